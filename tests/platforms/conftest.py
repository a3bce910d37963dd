from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.platforms.sandbox import Sandbox, create_app

SAMPLES = Path(__file__).parent / "samples"
SANDBOX_URL = "http://sandbox.test"
# A fixed sandbox "now", so the synthetic stats in every test are the same numbers.
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class FakeTime:
    """A monotonic clock that only moves when something sleeps on it, and remembers every
    sleep: retry delays can be asserted exactly and tests never wait."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(now=lambda: NOW, slow_seconds=5.0, retry_after_seconds=2)


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL) as client:
        yield client
