"""The webhook pieces on their own: signatures against the reference library, the retry
schedule's arithmetic, the address rules, and the outbox's fan-out."""

import base64
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.models import WebhookDelivery, WebhookEvent
from app.platforms.http import retry_after_seconds as parse_retry_after
from app.repositories import api_keys
from app.schemas.webhooks import WebhookEndpointCreate
from app.settings import Settings
from app.webhooks import outbox, repository, signing, ssrf, vault
from app.webhooks.attempts import Result, next_delay
from app.webhooks.events import EventType
from tests.conftest import Org

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_signatures_are_what_the_reference_library_computes() -> None:
    secret = signing.generate_secret()
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    body = b'{"type":"post.paid","data":{"amount":"1.00","name":"\xc3\xa9"}}'
    ts = int(datetime.now(UTC).timestamp())
    expected = Webhook(secret).sign("evt_1", datetime.fromtimestamp(ts, UTC), body.decode())
    assert signing.sign(secret, "evt_1", ts, body) == expected
    other = signing.generate_secret()
    headers = signing.headers([secret, other], "evt_1", ts, body)
    assert headers["webhook-signature"] == (f"{expected} {signing.sign(other, 'evt_1', ts, body)}")
    Webhook(secret).verify(body, headers)
    Webhook(other).verify(body, headers)


def test_secrets_round_trip_through_the_vault_and_differ_each_time() -> None:
    settings = Settings(secret_key="k1")
    a, b = vault.encrypt(settings, "whsec_x"), vault.encrypt(settings, "whsec_x")
    assert a != b
    assert vault.decrypt(settings, a) == vault.decrypt(settings, b) == "whsec_x"


@pytest.mark.parametrize(
    ("attempts", "rand", "expected"),
    [(1, 0.5, 5.0), (1, 0.0, 4.5), (1, 1.0, 5.5), (2, 0.5, 300.0), (7, 0.5, 36000.0)],
)
def test_the_retry_schedule_with_jitter(attempts: int, rand: float, expected: float) -> None:
    result = Result(500, 1, "", None, None)
    assert next_delay(Settings(), attempts, result, lambda: rand) == pytest.approx(expected)


def test_the_schedule_ends_after_seven_retries() -> None:
    assert next_delay(Settings(), 8, Result(500, 1, "", None, None), lambda: 0.5) is None
    # Even a Retry-After does not extend it.
    assert next_delay(Settings(), 8, Result(429, 1, "", None, 10.0), lambda: 0.5) is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sat, 28 Nov 2026 12:02:00 GMT", NOW) == 120
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1::1", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:0a00:0001::1", False),  # 6to4 wrapping 10.0.0.1
        ("2002:5db8:d822::1", True),  # 6to4 wrapping 93.184.216.34
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::5db8:d822", False),  # IPv4-compatible: deprecated, refused whatever it carries
        ("::ffff:0:a00:1", False),  # IPv4-translated (SIIT) 10.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 to 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 to 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 to 169.254.169.254 (cloud metadata)
        ("64:ff9b::5db8:d822", True),  # NAT64 to 93.184.216.34
        ("64:ff9b:1::5db8:d822", False),  # local-use NAT64: its embedding is the operator's
        ("fec0::1", False),  # site-local
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo, client 10.0.0.1
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert ssrf.is_public(address) is public


@pytest.mark.parametrize(
    ("port", "allowed"), [(443, True), (1024, True), (8443, True), (22, False), (80, False)]
)
async def test_only_https_port_and_unprivileged_ports_are_allowed(port: int, allowed: bool) -> None:
    url = f"https://93.184.216.34:{port}/in"
    if allowed:
        await ssrf.check(url, allow_private=False)
    else:
        with pytest.raises(ssrf.UrlNotAllowed, match=f"port {port} is not allowed"):
            await ssrf.check(url, allow_private=False)
    await ssrf.check(url, allow_private=True)  # development: any port


async def test_a_checked_url_is_sent_to_the_checked_address_with_its_name_kept() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example.com", 8443)
        return ["2606:2800:220:1::1", "93.184.216.34"]

    target = await ssrf.check(
        "https://hooks.example.com:8443/in?x=1", allow_private=False, resolve=resolve
    )
    assert str(target.url) == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"Host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}


def test_payloads_carry_money_as_strings_and_times_as_iso() -> None:
    data = {"earnings": Decimal("12.50"), "at": NOW, "id": uuid.UUID(int=1)}
    body = outbox.payload(EventType.POST_FINALIZED, data, NOW)
    assert body == {
        "type": "post.finalized",
        "timestamp": "2026-11-28T12:00:00+00:00",
        "data": {
            "earnings": "12.50",
            "at": "2026-11-28T12:00:00Z",
            "id": "00000000-0000-0000-0000-000000000001",
        },
    }
    model = WebhookEndpointCreate(url="https://x.example")
    assert outbox.payload(EventType.POST_CREATED, model, NOW)["data"]["url"] == "https://x.example"


async def test_fan_out_follows_subscriptions_enabled_state_and_tenant(
    session: AsyncSession, org: Org, settings: Settings
) -> None:
    async def endpoint(org_id: uuid.UUID, **fields: object) -> uuid.UUID:
        row = await repository.create_endpoint(
            session, org_id, {"url": "https://x.example", **fields}, vault.encrypt(settings, "s")
        )
        return row.id

    everything = await endpoint(org.id)
    paid = await endpoint(org.id, event_types=["post.paid"])
    await endpoint(org.id, enabled=False)
    other_org, _ = await api_keys.create_organization(session, "Other")
    other_everything = await endpoint(other_org.id)

    ids = await outbox.emit_many(
        session,
        [
            outbox.Event(org.id, EventType.POST_CREATED, {"n": 1}),
            outbox.Event(org.id, EventType.POST_PAID, {"n": 2}),
            outbox.Event(other_org.id, EventType.POST_PAID, {"n": 3}),
        ],
        now=NOW,
    )
    assert await outbox.emit_many(session, []) == []
    rows = (
        await session.execute(select(WebhookDelivery.event_id, WebhookDelivery.endpoint_id))
    ).all()
    assert sorted((str(e), str(p)) for e, p in rows) == sorted(
        [
            (str(ids[0]), str(everything)),
            (str(ids[1]), str(everything)),
            (str(ids[1]), str(paid)),
            (str(ids[2]), str(other_everything)),
        ]
    )
    deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert {(d.status, d.attempts, d.next_attempt_at) for d in deliveries} == {("pending", 0, NOW)}
    events = (await session.scalars(select(WebhookEvent).order_by(WebhookEvent.type))).all()
    assert sorted((e.type, e.payload["data"]["n"]) for e in events) == [
        ("post.created", 1),
        ("post.paid", 2),
        ("post.paid", 3),
    ]
    assert {e.created_at for e in events} == {NOW}
