"""Recipe: a Django view that calls a service with requests, resiliently.

Run: python docs/examples/recipe_django.py  (needs django and requests)

The city page shows a weather forecast from another service. Its requests go
through a ``requests.Session`` with brace's ``ResilientAdapter`` mounted, so
every request runs through ``brace.http.standard``; the view gives the call a
time budget and serves the last good forecast when the service fails. The
demo configures Django in this process, calls the view with Django's test
client, and points it at a real local server that fails on demand.
"""

# The view's imports open the part the recipe page shows, after the demo's: not sorted as one.
# ruff: noqa: I001

from __future__ import annotations

import sys
import time

import django
from django.test import Client, override_settings

from fake_services import FakeService

# --8<-- [start:view]
import threading
from typing import Any

import requests
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

import brace
from brace.integrations.requests import ResilientAdapter

# One policy for the whole process: its breakers and retry budget see every request.
forecast_policy = brace.http.standard("forecast", attempt_timeout=0.8)
sessions = threading.local()


def forecast_session() -> requests.Session:
    """A Session per thread (a Session is not thread-safe), all sharing one policy."""
    session = getattr(sessions, "session", None)
    if session is None:
        session = sessions.session = requests.Session()
        adapter = ResilientAdapter(policy=forecast_policy)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


last_forecasts = brace.LastGood(max_age=1800)  # per city: what the page showed last


@brace.Fallback([last_forecasts, None])  # the last good forecast, else a page without one
def forecast_for(city: str) -> dict[str, Any] | None:
    response = forecast_session().get(f"{settings.FORECAST_URL}/forecast/{city}")
    response.raise_for_status()  # the 503 that retrying could not fix
    return response.json()


def city_page(request: HttpRequest, city: str) -> JsonResponse:
    with brace.deadline(1.0):  # this page's budget for the forecast, retries included
        forecast = forecast_for(city)
    return JsonResponse({"city": city, "forecast": forecast})


urlpatterns = [path("cities/<str:city>", city_page)]
# --8<-- [end:view]


def main() -> None:
    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__)
        django.setup()
    with (
        FakeService(lambda _path: {"sky": "clear", "high": 21}) as forecasts,
        override_settings(ROOT_URLCONF=sys.modules[__name__], FORECAST_URL=forecasts.url),
    ):
        browser = Client()

        def page(label: str, *, counted: bool = True, within: float = 1.0) -> None:
            sent = forecasts.requests
            started = time.perf_counter()
            response = browser.get("/cities/paris")
            elapsed = time.perf_counter() - started
            print(f"{label}: {response.status_code} {response.json()}")
            if counted:
                print(f"    requests to the forecast service: {forecasts.requests - sent}")
            print(f"    within {within} s:", "yes" if elapsed < within else f"no, {elapsed:.2f} s")

        page("healthy")
        forecasts.set("503")
        page("the service answers 503")
        forecasts.set("drop")
        page("the service drops connections")
        forecasts.set("hang")
        page("the service hangs", counted=False, within=1.2)
        forecasts.set("ok")


if __name__ == "__main__":
    main()
