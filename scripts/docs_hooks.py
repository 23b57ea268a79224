"""mkdocs hooks: the API reference documents every public name, and nothing private.

A public module is one whose dotted path has no part starting with ``_``;
its public names are its ``__all__``. After the build, every such name must
have a heading in the API reference (mkdocstrings gives each documented
object a heading whose id is its dotted path), and no heading may name a
private object. A failure stops the
build, so a name added to ``__all__`` without a place in
``docs/reference/`` fails the test command.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

# Public modules that are not a Python API: the `brace` command's entry point
# (documented in the simulator guide) and `python -m brace`.
NOT_API = {"brace.cli", "brace.__main__"}

HEADING = re.compile(r'<h[1-6] id="([^"]+)" class="doc doc-heading')


def public_modules() -> list[types.ModuleType]:
    """``brace`` and every importable submodule without a private part in its path."""
    brace = importlib.import_module("brace")
    found = [brace]
    for info in pkgutil.walk_packages(brace.__path__, "brace."):
        parts = info.name.split(".")
        if info.name in NOT_API or any(part.startswith("_") for part in parts):
            continue
        found.append(importlib.import_module(info.name))
    return found


def public_names() -> set[str]:
    """The dotted name of everything a public module exports, submodules aside."""
    names = set()
    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            if isinstance(getattr(module, name), types.ModuleType):
                continue  # a submodule: it has a page of its own
            names.add(f"{module.__name__}.{name}")
    return names


def private(dotted: str) -> bool:
    """True when a part of ``dotted`` is private (``_x``), not special (``__x__``)."""
    return any(p.startswith("_") and not p.endswith("__") for p in dotted.split("."))


def on_post_build(config: Any) -> None:
    """Compare the headings of the built API reference with the public names."""
    site = Path(config["site_dir"])
    reference = site / "reference"
    headings: set[str] = set()
    for page in reference.rglob("*.html"):
        headings.update(HEADING.findall(page.read_text(encoding="utf-8")))
    missing = sorted(public_names() - headings)
    problems = [f"public name {name} has no entry in docs/reference/" for name in missing]
    problems += [
        f"docs/reference/ shows a private name: {h}" for h in sorted(headings) if private(h)
    ]
    if problems:
        raise PluginError("API reference:\n  " + "\n  ".join(problems))
