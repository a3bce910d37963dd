"""Webhook delivery end to end: events emitted in committed transactions, the worker's sweep,
and a receiver on a real port that verifies every delivery with `standardwebhooks`. Time is
a controllable clock handed to the deliverer; nothing here waits for a backoff."""

import asyncio
import dataclasses
import ssl
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent
from app.repositories import api_keys
from app.settings import Settings
from app.webhooks import outbox, repository, retention, vault
from app.webhooks.attempts import Result
from app.webhooks.delivery import Deliverer
from app.webhooks.events import EventType
from app.workers import worker
from app.workers.worker import deliver_webhooks
from tests import factories as f
from tests.conftest import committed_client
from tests.webhook_receiver import Answer, Receiver, self_signed

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Kit:
    api: httpx.AsyncClient
    org: uuid.UUID
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    deliverer: Deliverer
    settings: Settings
    receiver: Receiver

    async def endpoint(self, url: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"url": url or self.receiver.url, **fields}
        created = await f.ok(await self.api.post("/v1/webhook-endpoints", json=body), 201)
        self.receiver.secrets.append(created["secret"])
        return created

    async def emit(self, *events: tuple[EventType, dict[str, Any]]) -> list[str]:
        async with self.sessions() as session:
            ids = await outbox.emit_many(
                session, [outbox.Event(self.org, t, d) for t, d in events], now=self.clock()
            )
            await session.commit()
        return [str(i) for i in ids]

    async def deliveries(self, endpoint_id: str) -> list[WebhookDelivery]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id))
                .order_by(WebhookDelivery.created_at)
            )
            return list(rows)

    async def endpoint_row(self, endpoint_id: str) -> WebhookEndpoint:
        async with self.sessions() as session:
            row = await session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
            assert row is not None
            return row


@pytest.fixture
async def kit(
    settings: Settings, engine: AsyncEngine, committed: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Kit]:
    own = settings.model_copy(
        update={
            "webhook_allow_private_urls": True,
            # A hung receiver times out in 3 s, far above a busy machine's slowest answer; the
            # receivers that hang here hang far longer.
            "webhook_timeout_seconds": 3.0,
            "webhook_lease_seconds": 30.0,
            "webhook_retry_schedule_seconds": SCHEDULE,
        }
    )
    receiver = Receiver()
    receiver.start()
    async with committed() as session:
        org, key = await api_keys.create_organization(session, "Acme")
        await session.commit()
    clock = Clock()
    try:
        async with (
            committed_client(own, engine, key) as api,
            httpx.AsyncClient(timeout=own.webhook_timeout_seconds) as http,
        ):
            deliverer = Deliverer(committed, http, own, now=clock, rand=lambda: 0.5)
            yield Kit(api, org.id, committed, clock, deliverer, own, receiver)
    finally:
        receiver.stop()


POST = {"id": "0190a000-0000-7000-8000-000000000001", "status": "finalized", "earnings": "12.50"}


async def test_committed_events_are_delivered_signed_and_verified(kit: Kit) -> None:
    endpoint = await kit.endpoint(description="prod")
    ids = await kit.emit(
        (EventType.POST_FINALIZED, POST),
        (EventType.POST_PAID, {**POST, "status": "paid"}),
        (EventType.CREATOR_RENAMED, {"id": "c1", "handle": "new", "previous_handle": "old"}),
    )
    outcomes = await kit.deliverer.sweep()
    assert outcomes == {"succeeded": 3}
    assert sorted(kit.receiver.ids()) == sorted(ids)
    assert all(r.verified_by_any for r in kit.receiver.received)
    by_id = {r.webhook_id: r.payload for r in kit.receiver.received}
    first = by_id[ids[0]]
    assert first["type"] == "post.finalized"
    assert first["data"] == POST  # money stays a string
    assert datetime.fromisoformat(first["timestamp"]) == kit.clock()
    # Signatures are exactly the scheme, so a verifier built from the spec agrees too.
    one = kit.receiver.received[0]
    expected = Webhook(endpoint["secret"]).sign(
        one.webhook_id, datetime.fromtimestamp(int(one.timestamp), UTC), one.body.decode()
    )
    assert one.signatures == [expected]
    listed = await f.ok(await kit.api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    assert {d["event_id"] for d in listed["data"]} == set(ids)
    for d in listed["data"]:
        assert d["status"] == "succeeded"
        (attempt,) = d["attempts"]
        assert attempt["status_code"] == 200
        assert attempt["response_body"] == "ok"
        assert attempt["latency_ms"] >= 0
    assert await kit.deliverer.sweep() == {}  # nothing is sent twice


async def test_a_rolled_back_transaction_emits_nothing(kit: Kit) -> None:
    await kit.endpoint()
    async with kit.sessions() as session:
        await outbox.emit(session, kit.org, EventType.POST_CREATED, POST)
        await session.rollback()
    async with kit.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert await kit.deliverer.sweep() == {}
    assert kit.receiver.received == []


async def test_receiver_down_then_slow_then_back_loses_nothing(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    ids = await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(6)])

    kit.receiver.stop()  # down: connection refused
    assert await kit.deliverer.sweep() == {"retrying": 6}
    rows = await kit.deliveries(endpoint["id"])
    assert {r.last_error.split(":")[0] for r in rows if r.last_error} == {"ConnectError"}
    assert all(r.next_attempt_at == kit.clock() + timedelta(seconds=5) for r in rows)

    kit.receiver.start()
    hung = threading.Event()
    kit.receiver.default = Answer(hold=hung)  # slow: answers after the 3 s timeout
    kit.clock.advance(seconds=5)
    try:
        assert await kit.deliverer.sweep() == {"retrying": 6}
    finally:
        hung.set()
    rows = await kit.deliveries(endpoint["id"])
    assert {r.last_error for r in rows} == {"timeout"}
    assert all(r.next_attempt_at == kit.clock() + timedelta(seconds=300) for r in rows)

    kit.receiver.default = Answer()  # back
    kit.clock.advance(seconds=300)
    assert await kit.deliverer.sweep() == {"succeeded": 6}
    # Every event arrived; repeats (the hung attempts reached the receiver) carry the same id.
    assert sorted(set(kit.receiver.ids())) == sorted(ids)
    assert len(kit.receiver.received) == 12
    assert all(r.verified_by_any for r in kit.receiver.received)
    for r in kit.receiver.received:
        assert r.payload["data"]["n"] == ids.index(r.webhook_id)
    rows = await kit.deliveries(endpoint["id"])
    assert {(r.status, r.attempts) for r in rows} == {("succeeded", 3)}


async def test_the_schedule_runs_out_then_a_manual_retry_delivers_with_the_same_id(
    kit: Kit,
) -> None:
    endpoint = await kit.endpoint()
    (event_id,) = await kit.emit((EventType.POST_REJECTED, POST))
    kit.receiver.default = Answer(status=500, body="x" * 5000)
    for step in SCHEDULE:
        assert await kit.deliverer.sweep() == {"retrying": 1}
        (row,) = await kit.deliveries(endpoint["id"])
        assert row.next_attempt_at == kit.clock() + timedelta(seconds=step)
        kit.clock.advance(seconds=step - 1)
        assert await kit.deliverer.sweep() == {}  # not due yet
        kit.clock.advance(seconds=1)
    assert await kit.deliverer.sweep() == {"failed": 1}
    (row,) = await kit.deliveries(endpoint["id"])
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 8, None)
    listed = await f.ok(await kit.api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    (shown,) = listed["data"]
    assert len(shown["attempts"]) == 8
    assert all(len(a["response_body"]) == 1024 for a in shown["attempts"])
    assert shown["last_error"] == "HTTP 500"

    kit.receiver.default = Answer()
    retried = await f.ok(
        await kit.api.post(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{row.id}/retry"),
        202,
    )
    assert retried["status"] == "pending"
    kit.clock.advance(seconds=1)
    assert await kit.deliverer.sweep() == {"succeeded": 1}
    assert set(kit.receiver.ids()) == {event_id}
    assert len(kit.receiver.received) == 9


async def test_410_disables_the_endpoint_and_enabling_resumes_it(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    await kit.emit((EventType.POST_HELD, POST))
    kit.receiver.default = Answer(status=410)
    assert await kit.deliverer.sweep() == {"retrying": 1}
    shown = await f.ok(await kit.api.get(f"/v1/webhook-endpoints/{endpoint['id']}"))
    assert shown["enabled"] is False
    assert "410" in shown["disabled_reason"]
    # Disabled: nothing new is fanned out to it and nothing pending is sent.
    await kit.emit((EventType.POST_PAID, POST))
    assert len(await kit.deliveries(endpoint["id"])) == 1
    kit.clock.advance(hours=1)
    assert await kit.deliverer.sweep() == {}
    kit.receiver.default = Answer()
    await f.ok(
        await kit.api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True})
    )
    assert await kit.deliverer.sweep() == {"succeeded": 1}


async def test_an_endpoint_failing_for_five_days_is_disabled(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    kit.receiver.default = Answer(status=502)
    await kit.emit((EventType.POST_CREATED, POST))
    await kit.deliverer.sweep()
    assert (await kit.endpoint_row(endpoint["id"])).failing_since == kit.clock()
    kit.clock.advance(days=4, hours=23)
    await kit.emit((EventType.POST_CREATED, POST))
    await kit.deliverer.sweep()
    assert (await kit.endpoint_row(endpoint["id"])).enabled
    kit.clock.advance(hours=1)
    await kit.emit((EventType.POST_CREATED, POST))
    await kit.deliverer.sweep()
    row = await kit.endpoint_row(endpoint["id"])
    assert not row.enabled
    assert row.disabled_reason is not None
    assert "failed since" in row.disabled_reason


async def test_a_success_resets_the_failure_clock(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    kit.receiver.answers.append(Answer(status=500))
    await kit.emit((EventType.POST_CREATED, POST))
    await kit.deliverer.sweep()
    assert (await kit.endpoint_row(endpoint["id"])).failing_since is not None
    kit.clock.advance(seconds=5)
    await kit.deliverer.sweep()
    assert (await kit.endpoint_row(endpoint["id"])).failing_since is None


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_delay"),
    [
        (429, "120", 120),  # longer than the 5 s step: honoured
        (503, "2", 5),  # shorter: the schedule wins
        (429, "999999", 36000),  # capped
        (500, "120", 5),  # only 429 and 503 carry a meaningful Retry-After
    ],
)
async def test_retry_after_on_429_and_503_is_honoured(
    kit: Kit, status: int, retry_after: str, expected_delay: int
) -> None:
    endpoint = await kit.endpoint()
    await kit.emit((EventType.POST_CREATED, POST))
    kit.receiver.answers.append(Answer(status=status, headers={"Retry-After": retry_after}))
    await kit.deliverer.sweep()
    (row,) = await kit.deliveries(endpoint["id"])
    assert row.next_attempt_at == kit.clock() + timedelta(seconds=expected_delay)


async def test_retry_after_as_an_http_date(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    await kit.emit((EventType.POST_CREATED, POST))
    when = kit.clock() + timedelta(minutes=10)
    date = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    kit.receiver.answers.append(Answer(status=503, headers={"Retry-After": date}))
    await kit.deliverer.sweep()
    (row,) = await kit.deliveries(endpoint["id"])
    assert row.next_attempt_at == when


async def test_event_types_filter_what_each_endpoint_receives(kit: Kit) -> None:
    paid_only = await kit.endpoint(event_types=["post.paid", "payout.paid"])
    everything = await kit.endpoint()
    await kit.emit((EventType.POST_CREATED, POST), (EventType.POST_PAID, POST))
    assert len(await kit.deliveries(paid_only["id"])) == 1
    assert len(await kit.deliveries(everything["id"])) == 2
    assert await kit.deliverer.sweep() == {"succeeded": 3}
    types = sorted(r.payload["type"] for r in kit.receiver.received)
    assert types == ["post.created", "post.paid", "post.paid"]


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    old = endpoint["secret"]
    rotated = await f.ok(
        await kit.api.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    )
    new = rotated["secret"]
    assert new != old
    assert new.startswith("whsec_")
    kit.receiver.secrets.append(new)
    await kit.emit((EventType.POST_CREATED, POST))
    await kit.deliverer.sweep()
    (during,) = kit.receiver.received
    assert len(during.signatures) == 2
    assert during.verified == {old: True, new: True}

    kit.clock.advance(hours=24, minutes=1)
    await kit.emit((EventType.POST_CREATED, POST))
    await kit.deliverer.sweep()
    after = kit.receiver.received[1]
    assert len(after.signatures) == 1
    assert after.verified == {old: False, new: True}


async def test_a_crashed_workers_claim_is_delivered_after_its_lease(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    (event_id,) = await kit.emit((EventType.POST_FINALIZED, POST))
    # A worker claims the delivery and dies (kill -9) before sending or recording anything.
    claimed, _ = await kit.deliverer.claim(10)
    assert [str(c.event_id) for c in claimed] == [event_id]
    assert await kit.deliverer.sweep() == {}  # leased: no one else sends it meanwhile
    kit.clock.advance(seconds=kit.settings.webhook_lease_seconds)
    assert await kit.deliverer.sweep() == {"succeeded": 1}
    assert kit.receiver.ids() == [event_id]
    (row,) = await kit.deliveries(endpoint["id"])
    assert (row.status, row.lease_token, row.lease_until) == ("succeeded", None, None)


async def test_a_worker_that_outlived_its_lease_does_not_overwrite_the_next_claim(
    kit: Kit,
) -> None:
    endpoint = await kit.endpoint()
    await kit.emit((EventType.POST_FINALIZED, POST))
    (stale,), _ = await kit.deliverer.claim(10)
    kit.clock.advance(seconds=kit.settings.webhook_lease_seconds)
    (fresh,), _ = await kit.deliverer.claim(10)
    assert fresh.lease_token != stale.lease_token
    result = await kit.deliverer.attempt(stale, kit.clock())
    assert await kit.deliverer._record(stale, kit.clock(), result) == "stale"
    (row,) = await kit.deliveries(endpoint["id"])
    assert (row.status, row.lease_token) == ("pending", fresh.lease_token)


async def test_a_hung_endpoint_never_delays_another(kit: Kit) -> None:
    slow = Receiver()
    slow.start()
    try:
        hung = threading.Event()
        slow.default = Answer(hold=hung)
        kit.settings.webhook_per_endpoint_concurrency = 1
        kit.settings.webhook_timeout_seconds = 30  # the slow one holds its slot
        await kit.endpoint(url=slow.url)
        fast = await kit.endpoint()
        await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(5)])
        sweep = asyncio.create_task(kit.deliverer.sweep())
        # All five reach the fast endpoint while the slow one holds its first request.
        for _ in range(1000):
            if len(kit.receiver.received) == 5 or sweep.done():
                break
            await asyncio.sleep(0.01)
        assert len(kit.receiver.received) == 5
        assert len(slow.received) == 1  # per-endpoint bound: one at a time
        hung.set()
        outcomes = await sweep
        assert outcomes == {"succeeded": 10}
        assert {r.status for r in await kit.deliveries(fast["id"])} == {"succeeded"}
    finally:
        hung.set()
        slow.stop()


async def _other_tenant(kit: Kit, url: str) -> tuple[uuid.UUID, str]:
    """A second organization with one endpoint: its id and the endpoint's id."""
    kit.receiver.secrets.append("whsec_" + "B" * 32)
    async with kit.sessions() as session:
        other, _ = await api_keys.create_organization(session, "Other tenant")
        endpoint = await repository.create_endpoint(
            session, other.id, {"url": url}, vault.encrypt(kit.settings, "whsec_" + "B" * 32)
        )
        await session.commit()
    return other.id, str(endpoint.id)


async def _emit_for(kit: Kit, org: uuid.UUID, data: dict[str, Any]) -> None:
    async with kit.sessions() as session:
        await outbox.emit_many(
            session, [outbox.Event(org, EventType.POST_CREATED, data)], now=kit.clock()
        )
        await session.commit()


async def _wait_for(condition: Any, sweep: asyncio.Task[Any], seconds: float = 15) -> None:
    for _ in range(int(seconds * 100)):
        if condition() or sweep.done():
            return
        await asyncio.sleep(0.01)


async def test_attempts_ending_together_are_written_together_each_with_its_outcome(
    kit: Kit, engine: AsyncEngine
) -> None:
    """Attempts that end while a write is under way are written by the next one, in one
    statement (forty in flight had each opened a transaction and a connection of their own),
    and each still gets its own outcome: succeeded, retrying, failed, or stale."""
    endpoint = await kit.endpoint()
    await kit.emit(*[(EventType.POST_FINALIZED, POST)] * 6)
    claimed = [c for _ in range(2) for c in (await kit.deliverer.claim(10))[0]]  # 4 at a time
    first, ok, retry, last_try, stale, ok2 = claimed
    last_try = dataclasses.replace(last_try, attempts=len(SCHEDULE))  # its schedule is spent
    async with kit.sessions() as session:  # another worker took this one over
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == stale.delivery_id)
            .values(lease_token=uuid.uuid4())
        )
        await session.commit()
    answered, refused = Result(200, 3, "ok", None, None), Result(500, 3, "no", None, None)
    writes = 0

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal writes
        writes += "INSERT INTO webhook_delivery_attempts" in statement

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        outcomes = await asyncio.gather(
            *(
                kit.deliverer._record(c, kit.clock(), r)
                for c, r in [
                    (first, answered),
                    (ok, answered),
                    (retry, refused),
                    (last_try, refused),
                    (stale, answered),
                    (ok2, answered),
                ]
            )
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert outcomes == ["succeeded", "succeeded", "retrying", "failed", "stale", "succeeded"]
    assert writes == 2  # the first alone; the five that ended during its write, together
    rows = {r.id: r for r in await kit.deliveries(endpoint["id"])}
    assert rows[retry.delivery_id].next_attempt_at == kit.clock() + timedelta(seconds=SCHEDULE[0])
    assert rows[retry.delivery_id].status == "pending"
    assert (rows[last_try.delivery_id].status, rows[last_try.delivery_id].finished_at) == (
        "failed",
        kit.clock(),
    )
    assert (rows[stale.delivery_id].status, rows[stale.delivery_id].attempts) == ("pending", 0)
    assert [rows[c.delivery_id].attempts for c in (first, ok, retry, ok2)] == [1, 1, 1, 1]
    async with kit.sessions() as session:  # every attempt is kept, the stale one's too
        kept = await session.scalar(select(func.count()).select_from(WebhookDeliveryAttempt))
    assert kept == 6


async def test_one_tenants_slow_endpoints_and_backlog_never_delay_anothers_first_delivery(
    kit: Kit,
) -> None:
    """Issue 22 item 6: six slow endpoints of one organization with a backlog took every slot,
    and the other organization's first delivery waited behind them. Now the claim takes
    organizations in turns and one organization holds at most its share of the slots."""
    slow = Receiver()
    slow.start()
    hung = threading.Event()
    patient = httpx.AsyncClient(timeout=30)  # the slow ones really hold their slots
    try:
        slow.default = Answer(hold=hung)
        kit.settings.webhook_concurrency = 6
        kit.settings.webhook_per_endpoint_concurrency = 1
        kit.settings.webhook_per_org_concurrency = 3
        kit.settings.webhook_timeout_seconds = 30  # the slow ones hold their slots
        kit.settings.webhook_sweep_interval_seconds = 1
        for i in range(6):
            await kit.endpoint(url=f"{slow.url}?endpoint={i}")
        await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(5)])  # 30 due
        kit.clock.advance(seconds=1)  # the other tenant's event is the newest of all
        other, other_endpoint = await _other_tenant(kit, kit.receiver.url)
        await _emit_for(kit, other, {"tenant": "other"})
        deliverer = Deliverer(kit.sessions, patient, kit.settings, now=kit.clock)
        sweep = asyncio.create_task(deliverer.sweep())
        await _wait_for(lambda: len(kit.receiver.received) == 1 and len(slow.received) == 3, sweep)
        # Delivered while every one of the first tenant's attempts is still hanging.
        assert [r.payload["data"] for r in kit.receiver.received] == [{"tenant": "other"}]
        assert not sweep.done()
        # The first tenant holds its share of the slots (WEBHOOK_PER_ORG_CONCURRENCY) and no
        # more: the other's next event, due mid-sweep, finds a free slot too.
        await _emit_for(kit, other, {"tenant": "other", "n": 2})
        await _wait_for(lambda: len(kit.receiver.received) == 2, sweep)
        assert [r.payload["data"] for r in kit.receiver.received][1:] == [
            {"tenant": "other", "n": 2}
        ]
        assert len(slow.received) == 3
        hung.set()
        outcomes = await sweep
        assert outcomes == {"succeeded": 32}
        assert [r.status for r in await kit.deliveries(other_endpoint)] == ["succeeded"] * 2
    finally:
        hung.set()
        await patient.aclose()
        slow.stop()


async def test_a_claim_takes_every_organizations_oldest_before_anyones_second(kit: Kit) -> None:
    for i in range(3):
        await kit.endpoint(url=f"{kit.receiver.url}?endpoint={i}")
    await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(4)])  # 12, oldest
    kit.clock.advance(seconds=1)
    other, _ = await _other_tenant(kit, kit.receiver.url)
    await _emit_for(kit, other, {"tenant": "other"})
    claimed, more = await kit.deliverer.claim(2)
    assert [c.organization_id for c in claimed] == [kit.org, other]
    assert not more


async def test_a_delivery_due_during_a_long_sweep_goes_out_without_waiting_for_it(
    kit: Kit,
) -> None:
    """The other tenant's event comes due while the sweep waits on hung attempts: the sweep
    claims again within its interval, not when a hung attempt times out."""
    slow = Receiver()
    slow.start()
    hung = threading.Event()
    patient = httpx.AsyncClient(timeout=30)  # the slow ones really hold their slots
    try:
        slow.default = Answer(hold=hung)
        kit.settings.webhook_per_endpoint_concurrency = 2
        kit.settings.webhook_per_org_concurrency = 4
        kit.settings.webhook_sweep_interval_seconds = 1
        kit.settings.webhook_timeout_seconds = 30
        for i in range(2):
            await kit.endpoint(url=f"{slow.url}?endpoint={i}")
        await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(3)])
        other, _ = await _other_tenant(kit, kit.receiver.url)
        deliverer = Deliverer(kit.sessions, patient, kit.settings, now=kit.clock)
        sweep = asyncio.create_task(deliverer.sweep())
        await _wait_for(lambda: len(slow.received) == 4, sweep)
        assert len(slow.received) == 4
        await _emit_for(kit, other, {"tenant": "other"})
        await _wait_for(lambda: len(kit.receiver.received) == 1, sweep)
        assert [r.payload["data"] for r in kit.receiver.received] == [{"tenant": "other"}]
        assert len(slow.received) == 4  # still hanging: nothing waited for them
        hung.set()
        assert await sweep == {"succeeded": 7}
    finally:
        hung.set()
        await patient.aclose()
        slow.stop()


async def test_the_test_event_goes_to_that_endpoint_only(kit: Kit) -> None:
    target = await kit.endpoint(event_types=["payout.paid"])
    other = await kit.endpoint()
    answer = await f.ok(await kit.api.post(f"/v1/webhook-endpoints/{target['id']}/test"), 202)
    assert answer["event_type"] == "webhook.test"
    assert answer["status"] == "pending"
    assert await kit.deliveries(other["id"]) == []
    kit.clock.advance(minutes=1)  # the API stamps it with the wall clock, a moment ahead
    assert await kit.deliverer.sweep() == {"succeeded": 1}
    (got,) = kit.receiver.received
    assert got.verified_by_any
    assert got.payload["type"] == "webhook.test"
    assert got.payload["data"]["endpoint_id"] == target["id"]


async def test_a_url_that_now_resolves_privately_is_refused_at_delivery(kit: Kit) -> None:
    """DNS rebinding: public when saved, private when sent. Nothing is sent."""
    kit.settings.webhook_allow_private_urls = False

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    strict = Deliverer(
        kit.sessions, httpx.AsyncClient(), kit.settings, now=kit.clock, resolve=rebinding
    )
    async with kit.sessions() as session:
        endpoint = await repository.create_endpoint(
            session,
            kit.org,
            {"url": f"https://hooks.example.com:{kit.receiver.port}/hooks"},
            vault.encrypt(kit.settings, "whsec_" + "A" * 32),
        )
        await session.commit()
    await kit.emit((EventType.POST_CREATED, POST))
    assert await strict.sweep() == {"retrying": 1}
    assert kit.receiver.received == []
    (row,) = await kit.deliveries(str(endpoint.id))
    assert row.last_error is not None
    assert row.last_error.startswith("url_not_allowed: The host hooks.example.com resolves to")


@pytest.mark.parametrize(
    "address",
    ["::7f00:1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "fec0::1"],
)
async def test_a_url_that_now_resolves_to_an_embedded_private_address_is_refused(
    kit: Kit, address: str
) -> None:
    """After DNS, at delivery: an IPv6 form that carries a private IPv4 address is as private
    as the address it carries."""
    kit.settings.webhook_allow_private_urls = False

    async def rebinding(host: str, port: int) -> list[str]:
        return [address]

    strict = Deliverer(
        kit.sessions, httpx.AsyncClient(), kit.settings, now=kit.clock, resolve=rebinding
    )
    async with kit.sessions() as session:
        endpoint = await repository.create_endpoint(
            session,
            kit.org,
            {"url": "https://hooks.example.com/hooks"},
            vault.encrypt(kit.settings, "whsec_" + "A" * 32),
        )
        await session.commit()
    await kit.emit((EventType.POST_CREATED, POST))
    assert await strict.sweep() == {"retrying": 1}
    (row,) = await kit.deliveries(str(endpoint.id))
    assert row.last_error == (
        f"url_not_allowed: The host hooks.example.com resolves to {address}, which is not a"
        " public address."
    )


async def test_a_url_on_a_privileged_port_is_refused_at_delivery(kit: Kit) -> None:
    """Saved before the port rule (or straight into the table): not sent either."""
    kit.settings.webhook_allow_private_urls = False
    async with kit.sessions() as session:
        endpoint = await repository.create_endpoint(
            session,
            kit.org,
            {"url": "https://93.184.216.34:22/hooks"},
            vault.encrypt(kit.settings, "whsec_" + "A" * 32),
        )
        await session.commit()
    await kit.emit((EventType.POST_CREATED, POST))
    assert await kit.deliverer.sweep() == {"retrying": 1}
    (row,) = await kit.deliveries(str(endpoint.id))
    assert row.last_error == (
        "url_not_allowed: The port 22 is not allowed: use 443 or a port from 1024 up."
    )


async def test_metrics_count_outcomes_and_the_oldest_undelivered_age(kit: Kit) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("viewledger_webhook_deliveries_total", outcome="retrying")
    await kit.endpoint()
    await kit.emit((EventType.POST_CREATED, POST))
    kit.receiver.default = Answer(status=500)
    await kit.deliverer.sweep()
    assert sample("viewledger_webhook_deliveries_total", outcome="retrying") == before + 1
    kit.clock.advance(seconds=90)
    kit.receiver.default = Answer()
    await kit.deliverer.sweep()
    # Measured when the sweep starts: the event had waited 90 s.
    assert sample("viewledger_webhook_oldest_undelivered_seconds") == 90
    await kit.deliverer.sweep()
    assert sample("viewledger_webhook_oldest_undelivered_seconds") == 0


async def test_deleting_an_endpoint_drops_its_deliveries(kit: Kit) -> None:
    endpoint = await kit.endpoint()
    await kit.emit((EventType.POST_CREATED, POST))
    await f.ok(await kit.api.delete(f"/v1/webhook-endpoints/{endpoint['id']}"), 204)
    assert await kit.deliverer.sweep() == {}
    async with kit.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 1


async def test_https_delivery_connects_to_the_checked_address_and_verifies_the_name(
    kit: Kit, tmp_path: Path
) -> None:
    """The URL's name is resolved once, checked, and the connection goes to that address
    with the name kept for TLS (SNI, certificate check) and the Host header."""
    cert, key = self_signed(str(tmp_path), "hooks.example.com")
    secure = Receiver(tls=(cert, key))
    secure.start()
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]  # allowed here: the kit allows private addresses

    try:
        endpoint = await kit.endpoint(url=secure.url_for("hooks.example.com"))
        secure.secrets.append(endpoint["secret"])
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=cert)) as http:
            deliverer = Deliverer(kit.sessions, http, kit.settings, now=kit.clock, resolve=resolve)
            await kit.emit((EventType.POST_PAID, POST))
            assert await deliverer.sweep() == {"succeeded": 1}
        assert lookups == ["hooks.example.com"]
        assert secure.hosts == [f"hooks.example.com:{secure.port}"]
        assert secure.received[0].verified_by_any
    finally:
        secure.stop()


async def test_a_secret_that_cannot_be_decrypted_fails_the_attempt_not_the_sweep(
    kit: Kit,
) -> None:
    endpoint = await kit.endpoint()
    await kit.emit((EventType.POST_PAID, POST), (EventType.POST_HELD, POST))
    other_key = kit.settings.model_copy(update={"secret_key": "rotated-without-care"})
    async with httpx.AsyncClient() as http:
        deliverer = Deliverer(kit.sessions, http, other_key, now=kit.clock)
        assert await deliverer.sweep() == {"retrying": 2}
    assert kit.receiver.received == []
    rows = await kit.deliveries(endpoint["id"])
    assert all((r.last_error or "").startswith("secret_unreadable") for r in rows)


async def test_two_workers_sweeping_at_once_send_each_delivery_once(kit: Kit) -> None:
    await kit.endpoint()
    second = await kit.endpoint()
    ids = await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(15)])
    async with httpx.AsyncClient() as http:
        other = Deliverer(kit.sessions, http, kit.settings, now=kit.clock)
        one, two = await asyncio.gather(kit.deliverer.sweep(), other.sweep())
    assert one["succeeded"] + two["succeeded"] == 30
    assert sorted(kit.receiver.ids()) == sorted(ids * 2)  # each event once per endpoint
    assert {r.status for r in await kit.deliveries(second["id"])} == {"succeeded"}


async def test_the_worker_job_runs_one_sweep_at_a_time_per_process(kit: Kit) -> None:
    await kit.endpoint()
    await kit.emit((EventType.PAYOUT_PAID, {"id": "p1", "amount": "10.00"}))
    ctx: dict[str, Any] = {"running": {"webhooks"}, "webhooks": kit.deliverer}
    assert await deliver_webhooks(ctx) == {}  # a sweep is already running here
    ctx["running"].clear()
    assert await deliver_webhooks(ctx) == {"succeeded": 1}
    assert ctx["running"] == set()


async def test_old_events_done_with_are_pruned_and_undelivered_ones_kept(kit: Kit) -> None:
    posts = ["post.created", "post.rejected", "post.held", "post.paid", "post.finalized"]
    endpoint = await kit.endpoint(event_types=posts)
    payouts_only = await kit.endpoint(event_types=["payout.paid"])
    days = kit.settings.webhook_event_retention_days
    kit.clock.advance(days=-(days + 10))
    delivered = await kit.emit(*[(EventType.POST_CREATED, {"n": i}) for i in range(3)])
    assert await kit.deliverer.sweep() == {"succeeded": 3}
    (given_up,) = await kit.emit((EventType.POST_REJECTED, POST))
    (retried,) = await kit.emit((EventType.POST_HELD, POST))
    assert await kit.deliverer.sweep() == {"succeeded": 2}
    # Pending to an endpoint that is then deleted: the event is left with no delivery.
    (orphan,) = await kit.emit((EventType.PAYOUT_PAID, {"id": "p1", "amount": "10.00"}))
    await f.ok(await kit.api.delete(f"/v1/webhook-endpoints/{payouts_only['id']}"), 204)
    kit.receiver.answers.append(Answer(status=500))
    (undelivered,) = await kit.emit((EventType.POST_PAID, POST))
    assert await kit.deliverer.sweep() == {"retrying": 1}
    async with kit.sessions() as session:  # the schedule ran out long ago
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_id == uuid.UUID(given_up))
            .values(status="failed", next_attempt_at=None, finished_at=kit.clock())
        )
        await session.commit()

    kit.clock.advance(days=days + 10)  # today
    rows = {str(d.event_id): d for d in await kit.deliveries(endpoint["id"])}
    retry = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{rows[retried].id}/retry"
    await f.ok(await kit.api.post(retry), 202)
    (recent,) = await kit.emit((EventType.POST_FINALIZED, POST))

    # In batches of two: five events go (three delivered, one given up, one whose endpoint is
    # gone); the undelivered one (due), the one retried today (due again) and today's stay.
    cutoff = kit.clock() - timedelta(days=days)
    assert await retention.prune(kit.sessions, cutoff, batch=2) == 5
    async with kit.sessions() as session:
        kept = set(map(str, await session.scalars(select(WebhookEvent.id))))
        orphaned = await session.scalar(
            select(func.count())
            .select_from(WebhookDeliveryAttempt)
            .where(WebhookDeliveryAttempt.delivery_id.not_in(select(WebhookDelivery.id)))
        )
    assert kept == {undelivered, retried, recent}
    assert not kept & {*delivered, given_up, orphan}
    assert orphaned == 0  # attempts go with their deliveries

    # What was kept is delivered, and the API shows every kept delivery with its attempts.
    kit.clock.advance(minutes=1)  # the API stamps the retry with the wall clock, a moment ahead
    assert await kit.deliverer.sweep() == {"succeeded": 3}
    listed = await f.ok(await kit.api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    shown = {d["event_id"]: d for d in listed["data"]}
    assert set(shown) == kept
    assert {d["status"] for d in shown.values()} == {"succeeded"}
    assert len(shown[retried]["attempts"]) == 2
    assert len(shown[undelivered]["attempts"]) == 2

    # The worker's hourly job: an old event delivered again today is kept for another period.
    ctx = {"settings": kit.settings, "sessionmaker": kit.sessions}
    assert await worker.prune_webhook_events(ctx) == 0
    assert any(
        job.coroutine is worker.prune_webhook_events for job in worker.WorkerSettings.cron_jobs
    )
