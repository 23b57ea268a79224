"""Derive a synchronous function from its asynchronous source: shells written once.

A policy's sync and async shells differ only in ``await`` (and in which
primitive blocks: ``clock.sleep`` for ``clock.asleep``, a thread waiter for a
task waiter). `sync_twin` reads the async function's source once, when the
class is built, and compiles the synchronous variant from it: ``async def``
becomes ``def``, ``await x`` becomes ``x``, ``async with``/``async for``
become ``with``/``for``, the names given in ``renames`` (variables and
attributes) are swapped, and the name ``IS_ASYNC`` becomes ``False``. The
result is ordinary bytecode, as fast as a hand-written twin, and its line
numbers point at the async source, which is the one place to read and edit.

brace needs its ``.py`` sources for this, as every ``pip install`` provides;
a frozen application must bundle them (PyInstaller: ``--collect-all brace``).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any, Final

__all__ = ["IS_ASYNC", "sync_twin"]

#: True in an async function written for `sync_twin`, False in its derived twin.
IS_ASYNC: Final = True


class _Unasync(ast.NodeTransformer):
    def __init__(self, renames: dict[str, str]) -> None:
        self.renames = renames

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        fields = {field: getattr(node, field, None) for field in node._fields}
        fields.update(name=self.renames.get(node.name, node.name), decorator_list=[], returns=None)
        return ast.copy_location(ast.FunctionDef(**fields), node)  # type: ignore[arg-type]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        node.returns = None
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None  # annotations only name types: never needed at run time
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        self.generic_visit(node)
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_Await(self, node: ast.Await) -> ast.expr:
        return self.visit(node.value)  # type: ignore[no-any-return]

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.With:
        self.generic_visit(node)
        return ast.copy_location(ast.With(items=node.items, body=node.body), node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.For:
        self.generic_visit(node)
        plain = ast.For(target=node.target, iter=node.iter, body=node.body, orelse=node.orelse)
        return ast.copy_location(plain, node)

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id == "IS_ASYNC":
            return ast.copy_location(ast.Constant(value=False), node)
        node.id = self.renames.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
        self.generic_visit(node)
        node.attr = self.renames.get(node.attr, node.attr)
        return node


def sync_twin(afn: Callable[..., Any], /, name: str, **renames: str) -> Any:
    """The synchronous function ``name`` compiled from the source of ``afn``.

    ``afn`` is an ``async def`` (or a plain function whose inner functions
    are ``async def``); it must not use zero-argument ``super()``. Its
    decorators are dropped, its annotations too (the derived function is for
    running, not for type checkers: give it a typed declaration instead).

    Raises:
        RuntimeError: the source of ``afn`` cannot be read (a frozen app
            without brace's ``.py`` files).
    """
    try:
        lines, first = inspect.getsourcelines(afn)
        filename = inspect.getsourcefile(afn) or "<brace>"
    except (OSError, TypeError) as exc:
        raise RuntimeError(
            f"brace builds its synchronous shells from the source of {afn.__qualname__}, "
            "which cannot be read; install brace with its .py files (a frozen application "
            "must bundle them, e.g. PyInstaller --collect-all brace)"
        ) from exc
    tree = ast.parse(textwrap.dedent("".join(lines)))
    top = tree.body[0]
    if not isinstance(top, ast.AsyncFunctionDef | ast.FunctionDef):
        raise TypeError(f"sync_twin needs a function; got {afn!r}")
    top.decorator_list = []
    tree = _Unasync(renames).visit(tree)
    tree.body[0].name = name
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, first - 1)
    namespace: dict[str, Any] = {}
    exec(compile(tree, filename, "exec", dont_inherit=True), afn.__globals__, namespace)  # noqa: S102
    derived = namespace[name]
    derived.__qualname__ = f"{afn.__qualname__.rpartition('.')[0]}.{name}".lstrip(".")
    derived.__module__ = afn.__module__
    derived.__doc__ = afn.__doc__
    return derived
