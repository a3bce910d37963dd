"""How many things wait for a person: the number every signed-in page shows beside "Needs
attention". Counting it (app.repositories.inbox.count: five bounded counts) on every page was
a tenth of a page's CPU and a millisecond of PostgreSQL's (issue 26), for a number that
changes far less often than pages are shown; so each process counts it at most once every
few seconds per organization and reach, as it keeps API keys (app.auth.PrincipalCache).

A change made from the dashboard in this process forgets its organization's counts, so the
page it leads to counts afresh; the inbox page counts its own and keeps them. What changes
elsewhere (the engine holding a post, an API call, another process) shows within the TTL."""

import time
import uuid
from collections.abc import Awaitable, Callable

Reach = frozenset[uuid.UUID] | None  # a restricted viewer's campaigns; None: all of them


class WaitingCounts:
    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[uuid.UUID, dict[Reach, tuple[float, int]]] = {}

    async def get(self, org: uuid.UUID, reach: Reach, count: Callable[[], Awaitable[int]]) -> int:
        hit = self._entries.get(org, {}).get(reach)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        n = await count()
        self.put(org, reach, n)
        return n

    def put(self, org: uuid.UUID, reach: Reach, n: int) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries.setdefault(org, {})[reach] = (time.monotonic() + self._ttl, n)

    def forget(self, org: uuid.UUID) -> None:
        self._entries.pop(org, None)
