"""The engine's clock: what "now" is for the workers (claims, writes, the deadline sweep,
webhook retries) and the sandbox (how old its videos are, how their views grow).

In a deployment it is the wall clock. A soak (`bench.soak`) runs days in minutes: every
engine process gets the same CLOCK_ORIGIN and CLOCK_SPEED, so they agree on a simulated
time that runs CLOCK_SPEED times faster than the wall clock from that origin, and one
process may be skewed by CLOCK_SKEW_SECONDS (the fault of a host whose clock drifted).
Settings refuse either outside sandbox mode. Pauses stay wall time (a soak scales its pacing
settings itself); everything compared with a stored time uses this clock."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.settings import Settings

Clock = Callable[[], datetime]


def wall() -> datetime:
    return datetime.now(UTC)


def for_settings(settings: Settings) -> Clock:
    skew = timedelta(seconds=settings.clock_skew_seconds)
    if settings.clock_speed == 1:
        if not skew:
            return wall
        return lambda: wall() + skew
    origin, speed = settings.clock_origin, settings.clock_speed
    assert origin is not None  # the settings' validator
    origin = origin if origin.tzinfo else origin.replace(tzinfo=UTC)

    def simulated() -> datetime:
        return origin + (wall() - origin) * speed + skew

    return simulated
