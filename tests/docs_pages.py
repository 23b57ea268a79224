"""Read the documentation's pages as the tests need them: fenced blocks with their markers.

A fenced block may be preceded (on the line just above its opening fence)
by a marker, an HTML comment that the rendered page does not show:

* ``<!-- docs: fragment -->``: a Python block that is deliberately partial
  (names from the reader's own code, ``...`` bodies). It is compiled, not run.
* ``<!-- docs: signature -->``: a Python block showing one call signature,
  ``brace.Name(params)``, compared with the real signature.
* ``<!-- docs: output -->``: the block shows what the Python block before it
  printed; ``<!-- docs: output of examples/NAME.py -->``: what that example
  prints when run as a script. Both are compared with the real output; a
  last line ``...`` stands for the rest.

Every other ``python`` block is run, in order, in one namespace per page; a
``pycon`` block is run as a doctest in the same namespace. docs/contributing.md
says the same for writers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)$")
MARKER = re.compile(r"^\s*<!--\s*docs:\s*(?P<kind>[\w-]+)(?:\s+of)?(?:\s+(?P<arg>.*?))?\s*-->\s*$")
MARKERS = {"fragment", "signature", "output"}
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text, and its marker."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str | None = None
    arg: str | None = None

    @property
    def where(self) -> str:
        """``docs/page.md:12``, for messages."""
        return f"{relative(self.page)}:{self.line}"


def relative(page: Path) -> str:
    """``page`` relative to the repository when it is in it (tests also read pages elsewhere)."""
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, in order, dedented, with the marker above each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        lang = opening["info"].strip().split(" ")[0]
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        body = [text for line in body for text in _expand(line)]
        marker = MARKER.match(lines[i - 1]) if i > 0 else None
        if marker is not None and marker["kind"] not in MARKERS:
            msg = f"{relative(page)}:{i}: unknown marker {marker['kind']!r}"
            raise ValueError(msg)
        found.append(
            Block(
                page=page,
                line=i + 1,
                lang=lang,
                text="\n".join(body) + "\n",
                marker=marker["kind"] if marker else None,
                arg=(marker["arg"] or None) if marker else None,
            )
        )
        i = end + 1
    return found


def _expand(line: str) -> list[str]:
    """A snippet line (``--8<-- "path:section"``) as the lines it includes, as mkdocs shows them."""
    snippet = SNIPPET.match(line.strip())
    if snippet is None:
        return [line]
    lines = (ROOT / snippet["path"]).read_text(encoding="utf-8").splitlines()
    if snippet["section"] is not None:
        start = lines.index(f"# --8<-- [start:{snippet['section']}]")
        lines = lines[start + 1 : lines.index(f"# --8<-- [end:{snippet['section']}]")]
    return [text for text in lines if not text.lstrip().startswith("# --8<-- [")]


def prose(page: Path) -> str:
    """The page's text as the site shows it: fenced blocks and included files too."""
    lines = page.read_text(encoding="utf-8").splitlines()
    return "\n".join(text for line in lines for text in _expand(line))
