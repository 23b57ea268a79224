"""Per-call overhead of brace's policies against a bare call, a trivial decorator and peers.

Run: ``python benchmarks/overhead.py`` (``--quick`` for a fast smoke run,
``--group retry`` to select sections). Needs ``pip install -e .[bench]``.
Every case module in benchmarks/cases/ contributes rows; all rows run in
interleaved rounds in this one process and the table reports medians.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _harness
from benchmarks import cases as cases_pkg


def collect(groups: set[str] | None) -> list[_harness.Case]:
    found: list[_harness.Case] = []
    for info in sorted(pkgutil.iter_modules(cases_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"benchmarks.cases.{info.name}")
        for case in module.cases():
            if groups is None or case.group in groups or case.group == "core":
                found.append(case)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--group", action="append", help="only these sections (core always runs)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--number", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    number = args.number or (2_000 if args.quick else 20_000)
    selected = collect(set(args.group) if args.group else None)
    print(
        f"brace overhead benchmark: Python {platform.python_version()} "
        f"({platform.python_implementation()}), {rounds} rounds x {number} calls, medians"
    )
    _harness.run(selected, rounds=rounds, number=number)
    print(_harness.table(selected))


if __name__ == "__main__":
    main()
