"""Drill 14: the soak's short version (bench/soak.py). A simulated day of 1,500 posts with
two API processes, two workers and two webhook receivers on private servers, every fault
kind at least once; then every invariant must hold."""

from bench.soak import KINDS, soak


async def test_drill_14_a_day_under_every_fault_loses_nothing_and_pays_nothing_twice() -> None:
    summary = await soak(posts=1500, days=1, speed=1440, seed=13)
    ran = {fault.split()[2].split("(")[0] for fault in summary["faults"]}
    assert ran == set(KINDS)
    assert summary["broken"] == {}
    assert summary["held"]
