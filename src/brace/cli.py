"""The ``brace`` command: ``brace simulate`` runs a scenario and shows what each strategy does.

``brace simulate`` with no argument runs the ``outage`` scenario with every
built-in strategy and prints one row per strategy. The terminal UI (rich)
and the plots (matplotlib) come with the ``cli`` extra; without them the
command prints a plain table and says what ``--html`` needs.

Exit status: 0 on success, 2 for a usage or configuration problem (unknown
scenario, bad TOML key or type, a strategy that cannot be imported), with
one line on stderr naming it and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from brace._errors import ConfigError
from brace.sim._contention import ContentionResult, run_contention
from brace.sim._explain import explain
from brace.sim._html import MissingExtraError, render_html
from brace.sim._report import tables, to_json
from brace.sim._runner import SimulationResult, simulate
from brace.sim._scenario import CONTENTION_VARIANTS, Contention, builtin_scenarios, load_scenario

__all__ = ["main"]

EXIT_USAGE = 2
#: Columns of names rather than figures: aligned left.
_TEXT_COLUMNS = frozenset({"strategy", "dependency"})
#: Columns the table may use when the output is not a terminal.
_PIPED_WIDTH = 120


class _UsageError(Exception):
    """A problem the user can fix: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brace", description="brace: make calls to unreliable dependencies safe."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sim = commands.add_parser(
        "simulate",
        help="simulate resilience strategies against a modelled dependency",
        description="Run a scenario in virtual time, once per strategy, and report "
        "success rate, latency, load on the dependency and time to recover.",
    )
    sim.add_argument(
        "scenario",
        nargs="?",
        default="outage",
        metavar="SCENARIO",
        help=f"a built-in ({', '.join(builtin_scenarios())}) or a path to a .toml file "
        "(default: outage)",
    )
    sim.add_argument(
        "--strategy",
        action="append",
        metavar="NAME",
        help="a built-in strategy or a factory as module:function; repeat for several "
        "(default: the scenario's list)",
    )
    sim.add_argument("--seed", type=int, help="seed for every random number")
    sim.add_argument("--runs", type=int, help="runs per strategy (contention: per point)")
    sim.add_argument(
        "--clients",
        metavar="N[,N...]",
        help="contention: the client counts to sweep, e.g. 10,50,100",
    )
    sim.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="simulate up to N strategies at once, each in its own process; the figures "
        "are the same as with --jobs 1 (default: 1)",
    )
    sim.add_argument("--html", type=Path, metavar="FILE", help="write a report with plots")
    sim.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _clients(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise _UsageError(f"--clients {text!r}: expected integers such as 10,50,100") from None
    if not counts or min(counts) < 1:
        raise _UsageError(f"--clients {text!r}: expected integers >= 1 such as 10,50,100")
    return counts


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[str, float], None] | None]:
    if not enabled:
        yield None
        return
    try:
        from rich.progress import Progress  # noqa: PLC0415 - optional extra
    except ImportError:
        yield None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=1.0)

        def update(what: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=f"{label}: {what}")

        yield update


def _print_table(title: str, headers: Sequence[str], rows: list[tuple[str, ...]]) -> None:
    try:
        from rich.console import Console  # noqa: PLC0415 - optional extra
        from rich.table import Table  # noqa: PLC0415
    except ImportError:
        _plain_table(sys.stdout, title, headers, rows)
        return
    table = Table(title=title)
    for index, header in enumerate(headers):
        left = index == 0 or header in _TEXT_COLUMNS
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        # Piped into a file or a pager: rich would assume 80 columns and truncate headers.
        console = Console(width=_PIPED_WIDTH)
    console.print(table)


def _plain_table(
    out: TextIO, title: str, headers: Sequence[str], rows: list[tuple[str, ...]]
) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    out.write(title + "\n")
    for row in (tuple(headers), *rows):
        cells = [
            c.ljust(w) if i == 0 or headers[i] in _TEXT_COLUMNS else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def _run(args: argparse.Namespace) -> SimulationResult | ContentionResult:
    scenario = load_scenario(args.scenario)
    if args.runs is not None and args.runs < 1:
        raise _UsageError(f"--runs {args.runs}: expected an integer >= 1")
    if args.jobs < 1:
        raise _UsageError(f"--jobs {args.jobs}: expected an integer >= 1")
    show = not args.quiet and sys.stderr.isatty()
    if isinstance(scenario, Contention):
        if args.strategy:
            unknown = [s for s in args.strategy if s not in CONTENTION_VARIANTS]
            if unknown:
                raise _UsageError(
                    f"--strategy {unknown[0]!r}: the contention scenario compares backoff "
                    f"variants; expected one of {', '.join(CONTENTION_VARIANTS)}"
                )
            scenario = replace(scenario, variants=tuple(args.strategy))
        clients = _clients(args.clients) if args.clients else None
        with _progress(show, scenario.name) as progress:
            return run_contention(
                scenario, seed=args.seed, runs=args.runs, clients=clients, progress=progress
            )
    if args.clients:
        raise _UsageError("--clients applies to the contention scenario only")
    with _progress(show, scenario.name) as progress:
        return simulate(
            scenario,
            args.strategy,
            seed=args.seed,
            runs=args.runs or 1,
            jobs=args.jobs,
            progress=progress,
        )


def _write(result: SimulationResult | ContentionResult, args: argparse.Namespace) -> None:
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
        sys.stdout.write(f"wrote {args.json}\n")
    if args.html is not None:
        try:
            page = render_html(result)
        except MissingExtraError as exc:
            sys.stderr.write(f"brace simulate: --html skipped: {exc}\n")
            return
        args.html.write_text(page, encoding="utf-8")
        sys.stdout.write(f"wrote {args.html}\n")


def _report(result: SimulationResult | ContentionResult) -> None:
    scenario = result.scenario
    if isinstance(result, ContentionResult):
        title = f"{scenario.name} (seed {result.seed}, mean of {result.runs} runs)"
    else:
        title = f"{scenario.name}: {scenario.description} (seed {result.seed})"
    for label, headers, rows in tables(result):
        _print_table(label or title, headers, rows)
    sentences = explain(result)
    if sentences:
        sys.stdout.write("\n" + "\n".join(textwrap.fill(s, width=100) for s in sentences) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``brace`` with ``argv`` (default ``sys.argv[1:]``) and return its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "simulate":
        parser.print_help()
        return EXIT_USAGE
    # Like `python -m`, let --strategy module:function find modules in the working directory.
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        result = _run(args)
        _report(result)
        _write(result, args)
    except (ConfigError, _UsageError) as exc:
        sys.stderr.write(f"brace simulate: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        sys.stderr.write(f"brace simulate: error: {exc}\n")
        return EXIT_USAGE
    return 0
