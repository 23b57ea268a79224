"""Integrations with other libraries: each module is an optional extra, imported only by name.

Nothing here turns on because a package is installed: import a module and
call it (``brace.integrations.prometheus.BraceCollector()``,
``brace.integrations.otel.instrument()``, ``brace.integrations.asgi.status_app()``).
"""
