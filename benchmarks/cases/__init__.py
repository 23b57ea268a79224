"""Benchmark case modules: each defines ``cases() -> list[Case]``; overhead.py finds them all."""
