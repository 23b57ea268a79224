"""The documentation says only what is true: its code runs, its output is real, its names exist.

Every fenced Python block in README.md and docs/ runs (or is marked as a
fragment and compiles), every ``pycon`` block passes as a doctest, every
signature and output shown matches the real one, every ``brace.x.y`` a page
names exists, and every page is in the site's navigation. The markers are
described in tests/docs_pages.py and docs/contributing.md.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import doctest
import functools
import importlib
import inspect
import io
import math
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import brace
from tests.docs_pages import DOCS, ROOT, Block, blocks, pages, prose

PAGES = pages()
IDS = [str(p.relative_to(ROOT)) for p in PAGES]


def _run_python(block: Block, namespace: dict[str, Any]) -> str:
    """Run ``block`` in ``namespace`` (top-level ``await`` allowed) and return what it printed."""
    code = compile(
        block.text, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, namespace))  # noqa: S307 - the documentation's own code
        else:
            exec(code, namespace)  # noqa: S102 - idem
    return out.getvalue()


def _check_fragment(block: Block) -> None:
    """A fragment compiles; one taken from an example file has every line in that file."""
    compile(block.text, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if block.arg is None:
        return
    source = {line.strip() for line in (DOCS / block.arg).read_text().splitlines()}
    missing = [line for line in block.text.splitlines() if line.strip() not in source]
    assert missing == [], f"{block.where}: lines not in {block.arg}"


def _run_doctest(block: Block, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.text, namespace, block.where, str(block.page), block.line
    )
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
    runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)  # a DocTest runs on a copy; later blocks see what it defined
    assert runner.failures == 0, report.getvalue()


def _resolve(dotted: str) -> object:
    """The object named ``dotted``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _check_signature(block: Block) -> None:
    """``brace.Name(params)`` in the block has the real signature's names, kinds and defaults."""
    shown = block.text.strip()
    target, params = shown.split("(", 1)
    arguments = ast.parse(f"def _({params}: pass").body[0].args  # type: ignore[attr-defined]
    kinds = inspect.Parameter
    written: list[tuple[str, Any, ast.expr | None]] = []
    positional = arguments.posonlyargs + arguments.args
    defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults
    for arg, default in zip(positional, defaults, strict=True):
        kind = (
            kinds.POSITIONAL_ONLY if arg in arguments.posonlyargs else kinds.POSITIONAL_OR_KEYWORD
        )
        written.append((arg.arg, kind, default))
    if arguments.vararg:
        written.append((arguments.vararg.arg, kinds.VAR_POSITIONAL, None))
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        written.append((arg.arg, kinds.KEYWORD_ONLY, default))
    if arguments.kwarg:
        written.append((arguments.kwarg.arg, kinds.VAR_KEYWORD, None))
    real = inspect.signature(_resolve(target.strip()))  # type: ignore[arg-type]
    assert [(n, k) for n, k, _ in written] == [
        (p.name, p.kind) for p in real.parameters.values()
    ], f"{block.where}: {shown} is not {target.strip()}{real}"
    scope = {"brace": brace, "math": math, **vars(builtins)}
    for (name, _, default), parameter in zip(written, real.parameters.values(), strict=True):
        if default is None:
            assert parameter.default is inspect.Parameter.empty, f"{block.where}: {name}"
            continue
        value = eval(ast.unparse(default), scope)  # noqa: S307 - the page's own text
        assert value == parameter.default, f"{block.where}: {name}={parameter.default!r}"


@functools.cache
def _example_output(name: str) -> str:
    path = DOCS / name
    out = io.StringIO()
    sys.path.insert(0, str(path.parent))
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.path.remove(str(path.parent))
    return out.getvalue()


def _check_output(block: Block, printed: str) -> None:
    expected = block.text.rstrip("\n").splitlines()
    actual = printed.rstrip("\n").splitlines()
    if expected and expected[-1].strip() == "...":
        expected = expected[:-1]
        actual = actual[: len(expected)]
    assert expected == actual, f"{block.where}: the page shows output that is not the real one"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_code_block_runs_and_every_output_shown_is_real(page: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs.{page.stem}"}
    printed = ""
    for block in blocks(page):
        if block.lang in {"python", "py"}:
            if block.marker == "fragment":
                _check_fragment(block)
            elif block.marker == "signature":
                _check_signature(block)
            else:
                assert block.marker is None, f"{block.where}: marker {block.marker} on Python"
                printed = _run_python(block, namespace)
        elif block.lang == "pycon":
            _run_doctest(block, namespace)
        elif block.marker == "output":
            _check_output(block, _example_output(block.arg) if block.arg else printed)
        else:
            assert block.marker is None, f"{block.where}: marker {block.marker} on {block.lang!r}"


def test_the_block_reader_sees_markers_and_indented_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n<!-- docs: fragment -->\n```python\nawait x\n```\n"
        "* item\n\n    ```python\n    y = 1\n    ```\n"
        "<!-- docs: output of examples/chaos.py -->\n```\nhi\n...\n```\n"
    )
    found = blocks(page)
    assert [(b.lang, b.marker, b.arg, b.text) for b in found] == [
        ("python", "fragment", None, "await x\n"),
        ("python", None, None, "y = 1\n"),
        ("", "output", "examples/chaos.py", "hi\n...\n"),
    ]


def test_an_unmarked_block_that_does_not_run_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nundefined_name()\n```\n")
    with pytest.raises(NameError):
        _run_python(blocks(page)[0], {})


def test_a_signature_that_is_not_the_real_one_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nbrace.LastGood(max_age, *, key=None, max_entries=99)\n```\n")
    with pytest.raises(AssertionError):
        _check_signature(blocks(page)[0])


# -- names ---------------------------------------------------------------------------------

NAME = re.compile(r"(?<![\w./-])brace(?:\.[A-Za-z_]\w*)+")


def test_the_name_pattern_finds_dotted_names_in_text_and_code() -> None:
    text = "use `brace.http.standard(...)`; brace.Retry's note; not mybrace.x, docs/brace.md nor brace-py.org"
    assert NAME.findall(text) == ["brace.http.standard", "brace.Retry"]


def _telemetry_names() -> set[str]:
    """OpenTelemetry instrument, event and attribute names brace emits (``brace.retry``, ...).

    They look like attributes of the package but are names on the wire: a page may name
    one if brace's OpenTelemetry integration really sends it.
    """
    integrations = ROOT / "src" / "brace" / "integrations"
    sources = (integrations / "otel.py", integrations / "_samples.py")
    return {n for source in sources for n in re.findall(r'"(brace\.[\w.]+)"', source.read_text())}


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_brace_name_a_page_mentions_exists(page: Path) -> None:
    missing = []
    emitted = _telemetry_names()
    for name in sorted(set(NAME.findall(prose(page))) - emitted):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert missing == [], f"{page.relative_to(ROOT)} names what brace does not have"


@pytest.fixture(scope="module")
def loaded_by_import_brace() -> set[str]:
    """The submodules a bare ``import brace`` loads, in a fresh interpreter."""
    script = "import brace, sys; print(' '.join(m for m in sys.modules if m.startswith('brace.')))"
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_code_that_uses_a_submodule_imports_it(
    page: Path, loaded_by_import_brace: set[str]
) -> None:
    # `brace.testing.VirtualClock()` after a bare `import brace` works in the test process
    # (something imported brace.testing) but not in a reader's script.
    code = "".join(b.text for b in blocks(page) if b.lang in {"python", "py", "pycon"})
    imports = set(re.findall(r"^\s*(?:>>> )?(?:import|from) (brace[\w.]*)", code, re.MULTILINE))
    imports |= {
        f"{package}.{name}"
        for package, names in re.findall(
            r"^\s*(?:>>> )?from (brace[\w.]*) import (.*)", code, re.MULTILINE
        )
        for name in re.findall(r"\w+", names)
    }
    needed = set()
    for name in NAME.findall(code):
        parts = name.split(".")
        modules = [".".join(parts[:cut]) for cut in range(2, len(parts) + 1)]
        module = next((m for m in reversed(modules) if m in sys.modules), None)
        if module is None or module in loaded_by_import_brace:
            continue
        if not any(i == module or i.startswith(module + ".") for i in imports):
            needed.add(module)
    assert sorted(needed) == []


def test_no_page_and_no_user_facing_string_cites_a_design_document() -> None:
    cited = [str(p.relative_to(ROOT)) for p in PAGES if "DESIGN.md" in prose(p)]
    cited += [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src").rglob("*.py")
        if "DESIGN.md" in p.read_text(encoding="utf-8")
    ]
    assert cited == []


# -- the site ------------------------------------------------------------------------------


def _nav_pages(entries: object) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in _nav_pages(value)]
    if isinstance(entries, list):
        return [page for entry in entries for page in _nav_pages(entry)]
    return []


def test_every_docs_page_is_in_the_site_navigation_and_every_entry_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(nav) == on_disk
    assert len(nav) == len(set(nav))


def test_the_exception_tree_drawn_in_the_mental_model_is_the_real_one() -> None:
    tree = next(b for b in blocks(DOCS / "index.md") if b.text.startswith("BraceError"))
    parents: list[tuple[int, type]] = []
    drawn = set()
    for line in tree.text.splitlines():
        found = re.search(r"(\w+)(?: \((\w+)\))?", line)
        assert found is not None
        depth = found.start()
        cls = getattr(brace, found[1])
        drawn.add(cls)
        if found[2]:
            assert issubclass(cls, getattr(builtins, found[2])), line
        while parents and parents[-1][0] >= depth:
            parents.pop()
        if parents:
            assert cls.__bases__[0] is parents[-1][1], line
        parents.append((depth, cls))
    errors = {getattr(brace, n) for n in brace.__all__}
    assert drawn == {e for e in errors if isinstance(e, type) and issubclass(e, brace.BraceError)}


def test_the_readme_links_every_page_of_the_site() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(docs/([^)#]+)", readme))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    reference = {p for p in pages if p.startswith("reference/")}
    assert "reference/brace.md" in linked
    assert "CHANGELOG.md" in readme
    assert sorted(pages - reference - {"changelog.md"} - linked) == []
