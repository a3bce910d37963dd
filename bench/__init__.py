"""Benchmarks: `python -m bench.refresh` and `python -m bench.api` (see bench/README.md).
They print figures; they never pass or fail on time."""
