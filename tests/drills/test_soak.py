"""Drill 14: the soak's short version (bench/soak.py). Half a simulated day of 800 posts with
two API processes, two workers and two webhook receivers on private servers, every fault
kind at least once; then every invariant must hold."""

from bench.soak import KINDS, soak


async def test_drill_14_half_a_day_under_every_fault_loses_nothing_and_pays_nothing_twice() -> None:
    summary = await soak(posts=800, days=0.5, speed=1440, seed=13)
    assert summary["fault_kinds"] == sorted(KINDS)  # every kind happened
    assert summary["broken"] == {}
    assert summary["held"]
