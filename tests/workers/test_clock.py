"""The engine's clock (app/clock.py): the wall clock in a deployment; in sandbox mode, a soak
may run it faster from a shared origin, or skew one process."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app import clock as clocks
from app.settings import Settings

LIVE = {
    "provider_mode": "live",
    "tiktok_primary_base_url": "https://tikwm.example",
    "tiktok_backup_base_url": "https://backup.example",
    "instagram_base_url": "https://ig.example",
    "tiktok_backup_api_key": "k",
    "instagram_api_key": "k",
    "secret_key": "x" * 64,
}


def test_a_deployment_runs_on_the_wall_clock() -> None:
    assert clocks.for_settings(Settings()) is clocks.wall


@pytest.mark.parametrize("field", [{"clock_speed": 10}, {"clock_skew_seconds": 5}])
def test_live_mode_refuses_a_simulated_clock(field: dict[str, float]) -> None:
    origin = datetime.now(UTC)
    with pytest.raises(ValidationError, match="sandbox mode only"):
        Settings(**LIVE, clock_origin=origin, **field)  # type: ignore[arg-type]


def test_a_faster_clock_needs_its_origin() -> None:
    with pytest.raises(ValidationError, match="CLOCK_ORIGIN"):
        Settings(clock_speed=10)


def test_processes_with_the_same_origin_agree_on_a_time_running_speed_times_faster() -> None:
    origin = datetime.now(UTC) - timedelta(seconds=2)
    settings = Settings(clock_speed=1000, clock_origin=origin)
    first, second = clocks.for_settings(settings), clocks.for_settings(settings)
    before = clocks.wall()
    a, b = first(), second()
    after = clocks.wall()
    lowest, highest = (origin + (t - origin) * 1000 for t in (before, after))
    assert lowest <= a <= b <= highest
    assert a - origin >= timedelta(seconds=2000)


def test_a_skewed_process_is_ahead_by_its_skew() -> None:
    skewed = clocks.for_settings(Settings(clock_skew_seconds=90))
    before = clocks.wall()
    at = skewed()
    after = clocks.wall()
    assert before + timedelta(seconds=90) <= at <= after + timedelta(seconds=90)
