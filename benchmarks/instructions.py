"""Before/after in CPU instructions per call: a measure a busy machine cannot blur.

Run: ``python benchmarks/instructions.py --base REV [--calls 2000]``. Needs valgrind.

Wall-clock ratios (benchmarks/compare.py) swing by 10-20 % when other work
shares the machine. ``valgrind --tool=callgrind`` counts instructions
instead, the same for the same program whatever else runs. Each case runs
in a fresh interpreter under callgrind twice, with ``calls`` and with
``3 * calls`` calls, for brace from an older commit and from this tree; the
difference divided by ``2 * calls`` is instructions per call. Instructions are not time
(a cache miss costs more than an add; under valgrind a lock round trip is far
dearer than on the CPU), but a change that adds Python-level work shows.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name: (setup, one call). Public API only, so both trees run the same code.
CASES: dict[str, tuple[str, str]] = {
    "breaker closed, success": ("b = brace.CircuitBreaker('b')\nf = b(lambda: 1)", "f()"),
    "breaker open, rejection": (
        """
        b = brace.CircuitBreaker('b', consecutive_failures=1, open_for=3600)
        f = b(lambda: 1)
        try:
            b.call(lambda: 1 / 0)  # trips it: OPEN for an hour
        except ZeroDivisionError:
            pass
        E = brace.CircuitOpenError
        """,
        "try:\n    f()\nexcept E:\n    pass",
    ),
    "bulkhead, free": ("f = brace.Bulkhead('k', max_concurrent=10)(lambda: 1)", "f()"),
    "bulkhead, full (rejection)": (
        """
        import threading
        k = brace.Bulkhead('k', max_concurrent=1)
        f = k(lambda: 1)
        entered, release = threading.Event(), threading.Event()
        def hold():
            entered.set()
            release.wait()
        # A thread holds the only slot for the whole run.
        threading.Thread(target=k.call, args=(hold,), daemon=True).start()
        entered.wait()
        E = brace.BulkheadFullError
        """,
        "try:\n    f()\nexcept E:\n    pass",
    ),
    "retry, success": ("f = brace.Retry(attempts=3)(lambda: 1)", "f()"),
    "retry, fail twice then succeed": (
        """
        n = [0]
        def g():
            n[0] += 1
            if n[0] % 3:
                raise ConnectionError('x')
            return 1
        f = brace.Retry(attempts=3, backoff=brace.Backoff.constant(0))(g)
        """,
        "f()",
    ),
    "rate limiter, under the limit": ("f = brace.RateLimiter('r', rate=1e9)(lambda: 1)", "f()"),
    "fallback, success": ("f = brace.Fallback('v')(lambda: 1)", "f()"),
    "policy.call(f)": ("b = brace.Bulkhead('k', max_concurrent=10)\ng = lambda: 1", "b.call(g)"),
    "recommended pipeline, success": (
        """
        p = brace.pipeline(
            brace.Retry(attempts=3), brace.CircuitBreaker('b'), brace.Bulkhead('k', max_concurrent=10)
        )
        f = p(lambda: 1)
        """,
        "f()",
    ),
    "async timeout, within limit": (
        """
        import asyncio
        async def g():
            return 1
        f = brace.Timeout(5.0)(g)
        async def many(n):
            for _ in range(n):
                await f()
        loop = asyncio.new_event_loop()
        """,
        "",  # driven by many(): see PROGRAM
    ),
}

PROGRAM = """
import sys
import brace
{setup}
calls = int(sys.argv[1])
if {is_async}:
    loop.run_until_complete(many(calls))
else:
    for _ in range(calls):
{body}
"""


def instructions(tree: Path, name: str, calls: int) -> int:
    setup, statement = CASES[name]
    body = "\n".join("        " + line for line in (statement or "pass").splitlines())
    source = PROGRAM.format(setup=textwrap.dedent(setup), body=body, is_async=not statement)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "case.py"
        script.write_text(source)
        out = Path(tmp) / "callgrind.out"
        ran = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(script),
                str(calls),
            ],
            env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=False,
        )
        if ran.returncode:
            raise SystemExit(f"case {name!r} failed under {tree}:\n{ran.stderr[-2000:]}")
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        assert summary is not None
        return int(summary.group(1))


_WARM: set[Path] = set()


def per_call(tree: Path, name: str, calls: int) -> float:
    # The slope between two run lengths: one-time costs (imports, the interpreter warming
    # up its specialised instructions) cancel out. A first run per tree writes the bytecode
    # caches, which would otherwise be counted in whichever run came first.
    if tree not in _WARM:
        instructions(tree, name, 1)
        _WARM.add(tree)
    return (instructions(tree, name, 3 * calls) - instructions(tree, name, calls)) / (2 * calls)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--case", action="append", help="only these cases")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="brace-base-") as tmp:
        base = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.base], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        print(f"base {args.base} vs this tree: instructions per call ({args.calls} calls)")
        print(f"{'case':36} {'base':>9} {'now':>9} {'now/base':>8}")
        for name in args.case or CASES:
            before, after = per_call(base, name, args.calls), per_call(ROOT, name, args.calls)
            print(f"{name:36} {before:9.0f} {after:9.0f} {after / before:8.2f}", flush=True)


if __name__ == "__main__":
    main()
