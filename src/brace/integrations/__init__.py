"""Integrations with other libraries, each an extra: ``pip install 'brace[httpx]'``, ...

Nothing here is imported by ``import brace``, and nothing turns on because a
package happens to be installed: import the module you use.

* `brace.integrations.httpx`: ``ResilientTransport`` and ``AsyncResilientTransport``.
* `brace.integrations.requests`: ``ResilientAdapter``.
* `brace.integrations.aiohttp`: ``ResilientMiddleware``.
* `brace.integrations.deadlines`: ``DeadlineMiddleware`` (ASGI) and the header's format.
* `brace.integrations.prometheus`: ``BraceCollector`` (extra ``brace[prometheus]``).
* `brace.integrations.otel`: ``instrument()``, ``request_hook`` (extra ``brace[otel]``).
* `brace.integrations.asgi` and `brace.integrations.wsgi`: ``status_app()``, no dependency.
"""
