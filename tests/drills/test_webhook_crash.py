"""Drill: a worker `kill -9` mid-delivery loses no webhook. A real worker process delivers ten
events to a receiver on a real port that verifies each with `standardwebhooks`; the receiver
answers three, then holds the next requests open, so the worker is provably mid-delivery
(the receiver has the requests, the database has no attempt for them). The worker's process
group is killed; once the killed claims' leases run out, a fresh worker sends them again
under the same `webhook-id`, and every event has arrived."""

import os
import signal
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from app.settings import Settings
from app.webhooks import outbox
from app.webhooks.events import EventType
from tests import factories as f
from tests.conftest import committed_admin
from tests.drills.test_drills import eventually
from tests.processes import sandbox_server, start_worker, stop, worker_env
from tests.webhook_receiver import Answer, Receiver

SM = async_sessionmaker[AsyncSession]
EVENTS = 10
ANSWERED_FIRST = 3
PER_ENDPOINT = 4  # deliveries in flight to the endpoint at once: all held when it is killed
# An attempt gives up after TIMEOUT, so the worker must be killed within it (the drill checks
# that the held attempts were never recorded). The lease outlasts it (as the settings demand)
# and is short, so the fresh worker takes the killed claims over within seconds.
TIMEOUT = 8
LEASE = 9


async def _deliveries(sm: SM) -> list[WebhookDelivery]:
    async with sm() as session:
        return list(await session.scalars(select(WebhookDelivery)))


async def _succeeded(sm: SM) -> int:
    return sum(d.status == "succeeded" for d in await _deliveries(sm))


async def test_drill_10_a_worker_killed_mid_delivery_loses_no_webhook(
    committed: SM, engine: AsyncEngine, settings: Settings, redis: Redis
) -> None:
    receiver = Receiver()
    receiver.start()
    hung = threading.Event()
    receiver.answers.extend(Answer() for _ in range(ANSWERED_FIRST))
    receiver.default = Answer(hold=hung)
    try:
        local = settings.model_copy(update={"webhook_allow_private_urls": True})
        async with committed_admin(local, engine, committed, "Hooks") as api:
            endpoint = await f.ok(
                await api.post("/v1/webhook-endpoints", json={"url": receiver.url}), 201
            )
        receiver.secrets.append(endpoint["secret"])
        async with committed() as session:
            stored = await session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
            assert stored is not None
            org = stored.organization_id
            ids = await outbox.emit_many(
                session,
                [outbox.Event(org, EventType.POST_CREATED, {"n": n}) for n in range(EVENTS)],
            )
            await session.commit()
        event_ids = {str(i) for i in ids}

        with sandbox_server() as sandbox:
            env = worker_env(
                settings,
                sandbox,
                webhook_allow_private_urls="true",
                webhook_timeout_seconds=TIMEOUT,
                webhook_lease_seconds=LEASE,
                webhook_sweep_interval_seconds=1,
                webhook_per_endpoint_concurrency=PER_ENDPOINT,
            )
            first = start_worker(env, own_group=True)
            try:
                # Three answered and recorded, then four held open by the receiver.
                await eventually(
                    lambda: _received(receiver, ANSWERED_FIRST + PER_ENDPOINT),
                    60,
                    "the worker sent three deliveries and holds four more open",
                )
            finally:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            killed_at = datetime.now(UTC)
            held = set(receiver.ids()[ANSWERED_FIRST:])
            assert len(held) == PER_ENDPOINT
            rows = {str(d.event_id): d for d in await _deliveries(committed)}
            async with committed() as session:
                recorded = await session.scalar(
                    select(func.count()).select_from(WebhookDeliveryAttempt)
                )
            assert recorded == ANSWERED_FIRST  # the held attempts were cut off unrecorded
            for event_id, row in rows.items():
                if event_id in held:  # mid-delivery: still leased to the dead worker
                    assert (row.status, row.attempts) == ("pending", 0)
                    assert row.lease_until is not None
                    assert row.lease_until > killed_at
                elif event_id in receiver.ids():
                    assert (row.status, row.attempts) == ("succeeded", 1)
                else:
                    assert (row.status, row.lease_token) == ("pending", None)
            leases_end = max(rows[i].lease_until or killed_at for i in held)

            receiver.default = Answer()  # the held requests now answer a dead connection
            hung.set()
            second = start_worker(env, own_group=True)
            try:
                await eventually(lambda: _all_succeeded(committed), 60, "every delivery succeeded")
            finally:
                assert stop(second) == 0
    finally:
        hung.set()
        receiver.stop()

    # Every event arrived, verified by the reference library; the killed ones twice, under
    # the same webhook-id and with the same body, and only after their leases ran out.
    received = Counter(receiver.ids())
    assert set(received) == event_ids
    assert all(r.verified_by_any for r in receiver.received)
    assert {i for i, n in received.items() if n == 2} == held
    assert {n for i, n in received.items() if i not in held} == {1}
    for event_id in held:
        first_try, again = [r for r in receiver.received if r.webhook_id == event_id]
        assert first_try.body == again.body
        assert int(again.timestamp) >= int(leases_end.timestamp())
    for row in await _deliveries(committed):
        assert (row.status, row.attempts, row.lease_token) == ("succeeded", 1, None)


async def _received(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _all_succeeded(sm: SM) -> bool:
    return await _succeeded(sm) == EVENTS
