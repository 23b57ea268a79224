"""Make a package's public names report the package as their module."""

from __future__ import annotations

from typing import Any

__all__ = ["publish"]


def publish(namespace: dict[str, Any], package: str) -> None:
    """Set ``__module__`` to ``package`` on each name in ``namespace["__all__"]`` defined privately.

    Public objects live in private ``package._module`` files; reporting the
    package instead (in reprs, docs and pickles) is what users import, as trio does.
    """
    private = f"{package}._"
    for name in namespace["__all__"]:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith(private):
            obj.__module__ = package
