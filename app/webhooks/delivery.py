"""The worker's delivery sweep: claim due deliveries, send them signed, record each attempt.

At least once: a delivery is claimed (`FOR UPDATE SKIP LOCKED`, then a lease) and stays
pending until an attempt's outcome is recorded, so a worker killed mid-send leaves a lease
that expires and another sweep sends it again, with the same `webhook-id`. A result is
recorded only under the claim's lease token, so a worker that outlived its lease cannot
overwrite what the next claimant recorded. Order is not guaranteed: retries, concurrency and
several workers deliver events in any order (receivers order by `timestamp` if they need to).

Concurrency is bounded per process: at most WEBHOOK_CONCURRENCY attempts in flight, at most
WEBHOOK_PER_ENDPOINT_CONCURRENCY to one endpoint and WEBHOOK_PER_ORG_CONCURRENCY for one
organization, and a claim only takes what a free slot can send at once, so a slow endpoint
holds its own slots and never the others' (and a claim's lease never waits behind a queue).
Tenants are served in turns: each claim takes every organization's oldest due delivery
before anyone's second, and the slots one organization cannot use stay free for the others,
so one tenant's slow endpoints and backlog never delay another's deliveries. While slots are
free, a sweep claims again every WEBHOOK_SWEEP_INTERVAL_SECONDS, so a delivery that comes due
during a long sweep does not wait for it to end.
"""

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from cryptography.fernet import InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock, wall
from app.db import session_scope
from app.domain.enums import DeliveryStatus
from app.platforms.http import retry_after_seconds
from app.settings import Settings
from app.webhooks import delivery_store, metrics, signing, ssrf, vault
from app.webhooks.attempts import Result, next_delay
from app.webhooks.delivery_store import Attempted, Claimed

log = logging.getLogger(__name__)

USER_AGENT = "ViewLedger-Webhooks/1.0"
# A sweep stops claiming after this long and lets the next tick take over.
MAX_SWEEP_SECONDS = 300.0


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """Redirects are not followed (a 3xx is a failed attempt: following one would bypass the
    address check), proxies from the environment are not used (they would bypass it too)."""
    return httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=settings.webhook_concurrency),
        headers={"User-Agent": USER_AGENT},
    )


class _Unwritten(Exception):
    """An attempt's group was not written (PostgreSQL away, or the worker stopping): its
    lease expires and it is sent again."""


@dataclass(frozen=True)
class Room:
    """Attempts in flight per key (an endpoint, an organization) and the most allowed each."""

    in_flight: Counter[uuid.UUID]
    limit: int

    def full(self) -> list[uuid.UUID]:
        return [key for key, n in self.in_flight.items() if n >= self.limit]

    def left(self, key: uuid.UUID) -> int:
        return self.limit - self.in_flight.get(key, 0)


class Deliverer:
    """One per worker process. `now` drives scheduling, leases and the failure clock (tests
    move it); the signed `webhook-timestamp` is always the wall clock of the attempt, as
    receivers check it against theirs."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        now: Clock = wall,
        resolve: ssrf.Resolver = ssrf.system_resolve,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._http = http
        self._settings = settings
        self._now = now
        self._resolve = resolve
        self._rand = rand
        self._stopping = False
        # Attempts waiting for the write under way to end (see `_record`).
        self._unwritten: list[tuple[Attempted, asyncio.Future[bool]]] = []
        self._writing = False

    def stop(self) -> None:
        """No more claims (the worker's SIGTERM): a running sweep lets the attempts in
        flight end, each recording its outcome, and returns."""
        self._stopping = True

    # -- the sweep ---------------------------------------------------------------------

    async def sweep(self) -> Counter[str]:
        """Deliver everything due, then return the outcomes. Keeps claiming as slots free up
        (and, while some are free, every sweep interval), so one slow endpoint only ever
        occupies its own slots, and one organization only its own."""
        outcomes: Counter[str] = Counter()
        await self._measure_backlog()
        in_flight: dict[asyncio.Task[str], Claimed] = {}
        per_endpoint: Counter[uuid.UUID] = Counter()
        per_org: Counter[uuid.UUID] = Counter()
        settings = self._settings
        started = time.monotonic()
        try:
            while True:
                free = settings.webhook_concurrency - len(in_flight)
                more = False
                sweeping = time.monotonic() - started < MAX_SWEEP_SECONDS and not self._stopping
                if free > 0 and sweeping:
                    claimed, more = await self.claim(
                        free,
                        Room(per_endpoint, settings.webhook_per_endpoint_concurrency),
                        Room(per_org, settings.webhook_per_org_concurrency),
                    )
                    for c in claimed:
                        in_flight[asyncio.create_task(self._deliver(c))] = c
                        per_endpoint[c.endpoint_id] += 1
                        per_org[c.organization_id] += 1
                if more and len(in_flight) < settings.webhook_concurrency:
                    continue  # rows were left for full endpoints; claim for the others now
                if not in_flight:
                    break
                # While a slot is free, look again for newly due deliveries now and then
                # rather than only when an attempt ends (a hung one ends at its timeout).
                poll = (
                    settings.webhook_sweep_interval_seconds
                    if len(in_flight) < settings.webhook_concurrency and sweeping
                    else None
                )
                done, _ = await asyncio.wait(
                    in_flight, timeout=poll, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    c = in_flight.pop(task)
                    for counter, key in (
                        (per_endpoint, c.endpoint_id),
                        (per_org, c.organization_id),
                    ):
                        counter[key] -= 1
                        if counter[key] <= 0:
                            del counter[key]
                    outcomes[task.result()] += 1
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
        return outcomes

    async def _measure_backlog(self) -> None:
        async with self._sessionmaker() as session:
            oldest = await delivery_store.oldest_pending(session)
        age = (self._now() - oldest).total_seconds() if oldest else 0.0
        metrics.OLDEST_UNDELIVERED.set(max(age, 0.0))

    async def claim(
        self, limit: int, endpoints: Room | None = None, orgs: Room | None = None
    ) -> tuple[list[Claimed], bool]:
        """Lease up to `limit` due deliveries, organizations in turns (every organization's
        oldest before anyone's second), within the room left per endpoint and per
        organization. Returns them, and whether due rows were left for lack of room (the
        caller then claims again for the others)."""
        settings = self._settings
        endpoints = endpoints or Room(Counter(), settings.webhook_per_endpoint_concurrency)
        orgs = orgs or Room(Counter(), settings.webhook_per_org_concurrency)
        now = self._now()
        due = delivery_store.due(now, limit, endpoints.full(), orgs.full())
        token = uuid.uuid4()
        async with session_scope(self._sessionmaker) as session:
            rows = (await session.execute(due)).all()
            taken_endpoint: Counter[uuid.UUID] = Counter()
            taken_org: Counter[uuid.UUID] = Counter()
            picked: list[uuid.UUID] = []
            for delivery_id, endpoint_id, org in rows:
                endpoint_room = taken_endpoint[endpoint_id] < endpoints.left(endpoint_id)
                if endpoint_room and taken_org[org] < orgs.left(org):
                    taken_endpoint[endpoint_id] += 1
                    taken_org[org] += 1
                    picked.append(delivery_id)
            if not picked:
                return [], False
            lease_until = now + timedelta(seconds=self._settings.webhook_lease_seconds)
            await delivery_store.lease(session, picked, token, lease_until)
            details = await delivery_store.details(session, picked)
        order = {delivery_id: i for i, delivery_id in enumerate(picked)}
        details = sorted(details, key=lambda d: order[d.id])  # in turns, as picked
        claimed = [
            Claimed(
                delivery_id=d.id,
                endpoint_id=d.endpoint_id,
                organization_id=d.organization_id,
                event_id=d.event_id,
                lease_token=token,
                attempts=d.attempts,
                url=d.url,
                secret_encrypted=d.secret_encrypted,
                previous_secret_encrypted=d.previous_secret_encrypted,
                previous_secret_expires_at=d.previous_secret_expires_at,
                payload=d.payload,
            )
            for d in details
        ]
        return claimed, len(picked) < len(rows)

    # -- one attempt -------------------------------------------------------------------

    async def _deliver(self, claimed: Claimed) -> str:
        attempted_at = self._now()
        try:
            result = await self.attempt(claimed, attempted_at)
        except InvalidToken:
            error = "secret_unreadable: SECRET_KEY changed since the secret was stored; rotate it"
            result = Result(None, 0, None, error, None)
        except Exception as exc:  # one broken delivery never stops the sweep
            log.exception("webhook delivery %s failed unexpectedly", claimed.delivery_id)
            result = Result(None, 0, None, f"internal: {type(exc).__name__}", None)
        outcome = await self._record(claimed, attempted_at, result)
        metrics.DELIVERIES.labels(outcome).inc()
        return outcome

    def _secrets(self, claimed: Claimed, now: datetime) -> list[str]:
        secrets = [vault.decrypt(self._settings, claimed.secret_encrypted)]
        if (
            claimed.previous_secret_encrypted
            and claimed.previous_secret_expires_at
            and claimed.previous_secret_expires_at > now
        ):
            secrets.append(vault.decrypt(self._settings, claimed.previous_secret_encrypted))
        return secrets

    async def attempt(self, claimed: Claimed, now: datetime) -> Result:
        """Send once: check the URL again (DNS rebinding), connect to the checked address,
        read at most the body limit. Never raises for the receiver's faults."""
        body = json.dumps(claimed.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            **signing.headers(
                self._secrets(claimed, now), str(claimed.event_id), int(time.time()), body
            ),
        }
        limit = self._settings.webhook_response_body_limit
        started = time.monotonic()

        def elapsed() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            target = await ssrf.check(
                claimed.url,
                allow_private=ssrf.allow_private_urls(self._settings),
                resolve=self._resolve,
            )
        except ssrf.UrlNotAllowed as exc:
            return Result(None, elapsed(), None, f"url_not_allowed: {exc.reason}", None)
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_seconds):
                request = self._http.build_request(
                    "POST",
                    target.url,
                    content=body,
                    headers={**headers, **target.headers},
                    extensions=dict(target.extensions),
                )
                response = await self._http.send(request, stream=True)
                try:
                    chunks = bytearray()
                    async for chunk in response.aiter_bytes():
                        chunks += chunk
                        if len(chunks) > limit:
                            break
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return Result(None, elapsed(), None, "timeout", None)
        except httpx.HTTPError as exc:
            return Result(None, elapsed(), None, f"{type(exc).__name__}: {exc}"[:500], None)
        text_body = bytes(chunks[:limit]).decode("utf-8", "replace")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), now)
        return Result(response.status_code, elapsed(), text_body, None, retry_after)

    async def _record(self, claimed: Claimed, now: datetime, result: Result) -> str:
        """Record the attempt and return its outcome: succeeded, retrying, failed, stale (the
        lease had expired) or unrecorded (PostgreSQL away: the lease expires and it is sent
        again). Attempts that end while a write is under way wait and are written together
        by the next one (a group commit): each attempt's own transaction was five round trips
        and a pool connection, and at forty in flight the sweep opened connections past the
        pool and spent a worker's CPU on them (the 100,000-post soak)."""
        attempts = claimed.attempts + 1
        status: DeliveryStatus | None = None
        next_attempt_at = None
        if result.succeeded:
            status = DeliveryStatus.SUCCEEDED
        else:
            delay = next_delay(self._settings, attempts, result, self._rand)
            if delay is None:
                status = DeliveryStatus.FAILED
            else:
                next_attempt_at = now + timedelta(seconds=delay)
        error = result.error or (None if result.succeeded else f"HTTP {result.status_code}")
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._unwritten.append(
            (Attempted(claimed, now, result, error, status, next_attempt_at), written)
        )
        if not self._writing:
            self._writing = True
            try:
                while self._unwritten:
                    group, self._unwritten = self._unwritten, []
                    await self._write(group)
            except BaseException:  # cancelled mid-write: this attempt's own outcome goes unread
                if written.done():
                    written.exception()
                raise
            finally:
                self._writing = False
                for _, waiting in self._unwritten:  # the writer was cancelled (shutdown)
                    waiting.set_exception(_Unwritten())
                self._unwritten = []
        try:
            recorded = await written
        except _Unwritten:
            return "unrecorded"
        if not recorded:
            return "stale"
        return status.value if status else "retrying"

    async def _write(self, group: list[tuple[Attempted, "asyncio.Future[bool]"]]) -> None:
        """One transaction for the group; each waiter learns whether its delivery was
        recorded (False: its lease had expired), or the error that stopped the write."""
        try:
            async with session_scope(self._sessionmaker) as session:
                recorded = await delivery_store.record(session, [a for a, _ in group])
                done = [a for a, _ in group if a.claimed.delivery_id in recorded]
                await self._update_endpoints(session, done)
        except BaseException as exc:  # PostgreSQL away, or cancelled: each is sent again
            if not isinstance(exc, asyncio.CancelledError):
                log.warning("could not record %d webhook deliveries: %r", len(group), exc)
            for _, written in group:
                written.set_exception(_Unwritten())
            if isinstance(exc, Exception):
                return
            raise
        for attempted, written in group:
            written.set_result(attempted.claimed.delivery_id in recorded)

    async def _update_endpoints(self, session: AsyncSession, done: list[Attempted]) -> None:
        """A success ends the endpoint's failing streak; a 410, or failing for
        WEBHOOK_DISABLE_AFTER_FAILING_DAYS, disables it."""
        succeeded = {a.claimed.endpoint_id for a in done if a.result.succeeded}
        if succeeded:
            await delivery_store.recovered(session, succeeded)
        failed: dict[uuid.UUID, Attempted] = {}
        for a in done:  # per endpoint, a 410 if any, else its last failure
            kept = failed.get(a.claimed.endpoint_id)
            if not a.result.succeeded and (kept is None or kept.result.status_code != 410):
                failed[a.claimed.endpoint_id] = a
        for endpoint_id, a in failed.items():
            if a.result.status_code == 410:
                reason = "The endpoint answered 410 Gone."
            else:
                disable_after = timedelta(days=self._settings.webhook_disable_after_failing_days)
                since = await delivery_store.failing_since(session, endpoint_id, a.at)
                if since is None or a.at - since < disable_after:
                    continue
                reason = f"Every delivery has failed since {since.isoformat()}."
            if await delivery_store.disable(session, endpoint_id, reason):
                log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
