"""The circuit breaker's state machine, on a fake clock."""

from app.platforms.breaker import BreakerState, CircuitBreaker
from tests.platforms.conftest import FakeTime


def breaker(fake_time: FakeTime, threshold: int = 3, cooldown: float = 60.0) -> CircuitBreaker:
    return CircuitBreaker("test", threshold, cooldown, clock=fake_time.monotonic)


def state(b: CircuitBreaker) -> BreakerState:
    return b.state  # read through a call: mypy would keep an earlier `b.state` narrowed


def test_opens_after_threshold_failures_in_a_row(fake_time: FakeTime) -> None:
    b = breaker(fake_time)
    b.record_failure()
    b.record_failure()
    assert (b.state, b.allow()) == (BreakerState.CLOSED, True)
    b.record_failure()
    assert (b.state, b.allow()) == (BreakerState.OPEN, False)


def test_a_success_resets_the_count(fake_time: FakeTime) -> None:
    b = breaker(fake_time)
    for _ in range(2):
        b.record_failure()
    b.record_success()
    for _ in range(2):
        b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_half_open_after_cooldown_lets_one_request_through(fake_time: FakeTime) -> None:
    b = breaker(fake_time, threshold=1)
    b.record_failure()
    fake_time.now += 59
    assert state(b) is BreakerState.OPEN
    fake_time.now += 1
    assert state(b) is BreakerState.HALF_OPEN
    assert b.allow() is True
    assert b.allow() is False  # the trial is still out
    b.record_success()
    assert (b.state, b.allow()) == (BreakerState.CLOSED, True)


def test_failed_trial_reopens_for_a_full_cooldown(fake_time: FakeTime) -> None:
    b = breaker(fake_time, threshold=1)
    b.record_failure()
    fake_time.now += 60
    assert b.allow() is True
    b.record_failure()
    assert b.state is BreakerState.OPEN
    fake_time.now += 59
    assert b.allow() is False
    fake_time.now += 1
    assert b.allow() is True


def test_trip_opens_at_once_for_its_own_longer_cooldown(fake_time: FakeTime) -> None:
    b = breaker(fake_time, threshold=3, cooldown=60.0)
    b.trip(900.0)
    assert (state(b), b.allow()) == (BreakerState.OPEN, False)
    fake_time.now += 899
    assert state(b) is BreakerState.OPEN
    fake_time.now += 1
    assert b.allow() is True  # the one trial
    b.record_failure()  # a failed trial: the normal cool-down again
    fake_time.now += 60
    assert state(b) is BreakerState.HALF_OPEN


def test_trip_never_shortens_the_normal_cooldown(fake_time: FakeTime) -> None:
    b = breaker(fake_time, cooldown=60.0)
    b.trip(5.0)
    fake_time.now += 59
    assert state(b) is BreakerState.OPEN
