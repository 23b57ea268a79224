"""Before/after: run benchmarks/overhead.py for an older commit and for this tree, alternately.

Run: ``python benchmarks/compare.py --base REV [--runs 4] [overhead.py options]``.

Two copies of brace cannot share one process, so each run is a subprocess
that imports brace from one tree (``PYTHONPATH`` ahead of the editable
install); the runs alternate base, current, base, current... so drift hits
both alike. Each tree runs its own benchmark cases (private hooks may
differ between them); rows are matched by mode, group and label. The table
gives each tree's median over runs of the per-run medians, and the ratio
current / base (1.00 = unchanged, below 1 = faster now).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_ROW = re.compile(r"^(sync|async)\s+(\S+)\s+(.*?)\s+(\d+)\s+(?:[\d.]+|-)\s+(?:[\d.]+|-)")


def parse(table: str) -> dict[tuple[str, str, str], float]:
    rows: dict[tuple[str, str, str], float] = {}
    for line in table.splitlines():
        match = _ROW.match(line)
        if match:
            mode, group, label, ns = match.groups()
            rows[mode, group, label.strip()] = float(ns)
    return rows


def run_tree(tree: Path, options: list[str]) -> dict[tuple[str, str, str], float]:
    env = {"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / "overhead.py"), *options],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        sys.exit(f"overhead.py failed in {tree}:\n{out.stderr}")
    return parse(out.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--runs", type=int, default=4, help="runs per tree, alternating")
    args, options = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="brace-base-") as tmp:
        base = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.base], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        results: dict[str, list[dict[tuple[str, str, str], float]]] = {"base": [], "now": []}
        for index in range(args.runs):
            for name, tree in (("base", base), ("now", ROOT)):
                print(f"run {index + 1}/{args.runs}: {name}", file=sys.stderr)
                results[name].append(run_tree(tree, options))
    keys = [key for key in results["now"][0] if key in results["base"][0]]
    print(f"base {args.base} vs this tree, {args.runs} alternating runs each, median ns/call")
    print(f"{'mode':5} {'group':9} {'case':52} {'base':>8} {'now':>8} {'now/base':>8}")
    for key in keys:
        before = statistics.median(run[key] for run in results["base"] if key in run)
        after = statistics.median(run[key] for run in results["now"] if key in run)
        mode, group, label = key
        print(f"{mode:5} {group:9} {label:52} {before:8.0f} {after:8.0f} {after / before:8.2f}")
    missing = [key for key in results["base"][0] if key not in results["now"][0]]
    for mode, group, label in missing:
        print(f"(only in base: {mode} {group} {label})")


if __name__ == "__main__":
    main()
