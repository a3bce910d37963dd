"""Benchmarks: `python -m bench.refresh` and `python -m bench.api` (see bench/README.md).
They print figures; they never pass or fail on time."""

# Imported first, as each of the service's processes imports it (see app/__init__.py).
import app  # noqa: F401
