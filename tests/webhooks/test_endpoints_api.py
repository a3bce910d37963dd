"""The webhook endpoints API: secrets shown once, the contract (pages, problems, Location),
roles and tenants, and which URLs may be registered."""

import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Role
from app.main import create_app
from app.models import WebhookEndpoint
from app.routers.webhook_endpoints import get_resolver
from app.settings import ProviderMode, Settings
from app.webhooks import vault
from app.webhooks.ssrf import allow_private_urls
from tests import factories as f
from tests.conftest import MakeOrg, Org

URL = "http://127.0.0.1:9/hooks"  # allowed: the test settings run against the sandbox


async def create(client: httpx.AsyncClient, **body: object) -> dict[str, object]:
    return await f.ok(await client.post("/v1/webhook-endpoints", json={"url": URL, **body}), 201)


async def test_the_secret_is_shown_once_and_stored_encrypted(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "description": " orders "}
    )
    created = await f.ok(response, 201)
    assert response.headers["Location"] == f"/v1/webhook-endpoints/{created['id']}"
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert created["event_types"] is None
    assert created["enabled"] is True
    assert created["description"] == "orders"
    shown = await f.ok(await client.get(f"/v1/webhook-endpoints/{created['id']}"))
    assert "secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listed = await f.ok(await client.get("/v1/webhook-endpoints"))
    assert all("secret" not in e for e in listed["data"])
    row = (await session.scalars(select(WebhookEndpoint))).one()
    assert secret not in row.secret_encrypted
    assert vault.decrypt(settings, row.secret_encrypted) == secret
    other_key = settings.model_copy(update={"secret_key": "another"})
    with pytest.raises(InvalidToken):
        vault.decrypt(other_key, row.secret_encrypted)


async def test_endpoints_page_newest_first(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, description=f"e{i}"))["id"] for i in range(5)]
    first = await f.ok(await client.get("/v1/webhook-endpoints", params={"limit": 2}))
    assert [e["id"] for e in first["data"]] == ids[::-1][:2]
    rest = await f.ok(
        await client.get(
            "/v1/webhook-endpoints", params={"limit": 10, "cursor": first["next_cursor"]}
        )
    )
    assert [e["id"] for e in rest["data"]] == ids[::-1][2:]
    assert rest["next_cursor"] is None


async def test_patch_changes_what_is_sent_and_null_event_types_means_all(
    client: httpx.AsyncClient,
) -> None:
    e = await create(client, event_types=["post.paid"])
    assert e["event_types"] == ["post.paid"]
    patched = await f.ok(
        await client.patch(
            f"/v1/webhook-endpoints/{e['id']}",
            json={"event_types": ["post.created", "payout.paid"], "description": "x"},
        )
    )
    assert patched["event_types"] == ["post.created", "payout.paid"]
    assert patched["url"] == URL
    everything = await f.ok(
        await client.patch(f"/v1/webhook-endpoints/{e['id']}", json={"event_types": None})
    )
    assert everything["event_types"] is None
    assert everything["description"] == "x"
    disabled = await f.ok(
        await client.patch(f"/v1/webhook-endpoints/{e['id']}", json={"enabled": False})
    )
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"]
    enabled = await f.ok(
        await client.patch(f"/v1/webhook-endpoints/{e['id']}", json={"enabled": True})
    )
    assert enabled["disabled_reason"] is None


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"url": URL, "event_types": []}, "/body/event_types"),
        ({"url": URL, "event_types": ["post.exploded"]}, "/body/event_types/0"),
        ({"url": URL, "event_types": ["webhook.test"]}, "/body/event_types/0"),
        ({"url": URL, "event_types": ["post.paid", "post.paid"]}, "/body/event_types"),
        ({"url": URL, "enabled": 1}, "/body/enabled"),
        ({"url": URL, "secret": "mine"}, "/body/secret"),
        ({"url": ""}, "/body/url"),
        ({}, "/body/url"),
    ],
)
async def test_invalid_endpoints_are_refused_with_a_pointer(
    client: httpx.AsyncClient, body: dict[str, object], pointer: str
) -> None:
    response = await client.post("/v1/webhook-endpoints", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["pointer"] == pointer for e in response.json()["errors"])


async def test_delete_then_everything_is_404(client: httpx.AsyncClient) -> None:
    e = await create(client)
    await f.ok(await client.delete(f"/v1/webhook-endpoints/{e['id']}"), 204)
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/deliveries"),
        ("POST", f"/deliveries/{uuid.uuid4()}/retry"),
    ]:
        response = await client.request(
            method, f"/v1/webhook-endpoints/{e['id']}{path}", json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "webhook_endpoint_not_found"


async def test_retrying_an_unknown_delivery_is_404(client: httpx.AsyncClient) -> None:
    e = await create(client)
    response = await client.post(f"/v1/webhook-endpoints/{e['id']}/deliveries/{uuid.uuid4()}/retry")
    assert response.status_code == 404
    assert response.json()["code"] == "webhook_delivery_not_found"


async def test_a_disabled_endpoint_cannot_be_tested(client: httpx.AsyncClient) -> None:
    e = await create(client, enabled=False)
    response = await client.post(f"/v1/webhook-endpoints/{e['id']}/test")
    assert response.status_code == 409
    assert response.json()["code"] == "webhook_endpoint_disabled"


async def test_test_event_shows_as_a_pending_delivery(client: httpx.AsyncClient) -> None:
    e = await create(client)
    sent = await f.ok(await client.post(f"/v1/webhook-endpoints/{e['id']}/test"), 202)
    listed = await f.ok(await client.get(f"/v1/webhook-endpoints/{e['id']}/deliveries"))
    assert [d["id"] for d in listed["data"]] == [sent["id"]]
    assert sent["attempts"] == []
    failed = await f.ok(
        await client.get(f"/v1/webhook-endpoints/{e['id']}/deliveries", params={"status": "failed"})
    )
    assert failed["data"] == []


async def test_only_admins_manage_endpoints_and_tenants_stay_apart(
    client: httpx.AsyncClient,
    org: Org,
    make_org: MakeOrg,
    make_key: Callable[[Org, Role], Awaitable[str]],
    client_for: Callable[[str | None], httpx.AsyncClient],
) -> None:
    e = await create(client)
    editor = await make_key(org, Role.EDITOR)
    async with client_for(editor) as as_editor:
        assert (await as_editor.get("/v1/webhook-endpoints")).status_code == 403
        assert (await as_editor.post("/v1/webhook-endpoints", json={"url": URL})).status_code == 403
    other = await make_org("Other")
    async with client_for(other.key) as as_other:
        assert (await as_other.get(f"/v1/webhook-endpoints/{e['id']}")).status_code == 404
        listed = await f.ok(await as_other.get("/v1/webhook-endpoints"))
        assert listed["data"] == []


# --- which URLs may be registered -----------------------------------------------------

NAMES = {
    "hooks.example.com": ["93.184.216.34"],
    "internal.example.com": ["10.0.0.5"],
    "nat64.example.com": ["64:ff9b::a9fe:a9fe"],  # 169.254.169.254 through NAT64
    "public64.example.com": ["64:ff9b::5db8:d822"],  # 93.184.216.34 through NAT64
}


async def fake_resolve(host: str, port: int) -> list[str]:
    if host in NAMES:
        return NAMES[host]
    if host == "mixed.example.com":  # one public and one private address: refused
        return ["93.184.216.34", "192.168.1.10"]
    raise OSError("Name or service not known")


@pytest.fixture
async def strict_client(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as in production: private URLs not allowed; names resolved by fake_resolve."""
    own = settings.model_copy(update={"webhook_allow_private_urls": False})
    application = create_app(own, engine=engine, sessionmaker=sessionmaker)
    application.dependency_overrides[get_resolver] = lambda: fake_resolve
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://test",
            headers={"Authorization": f"Bearer {org.key}"},
        ) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/in", "must use https"),
        ("https://127.0.0.1/in", "127.0.0.1 is not a public address"),
        ("https://10.1.2.3/in", "10.1.2.3 is not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
        ("https://[::1]/in", "::1 is not a public address"),
        ("https://[::ffff:10.0.0.1]/in", "not a public address"),
        ("https://internal.example.com/in", "internal.example.com resolves to 10.0.0.5"),
        ("https://mixed.example.com/in", "resolves to 192.168.1.10"),
        ("https://nowhere.example.com/in", "does not resolve"),
        ("https://user:pw@hooks.example.com/in", "user name or password"),
        ("ftp://hooks.example.com/in", "must use https"),
        ("https://hooks example.com/in", "not a valid host name"),
        ("https://xn--/in", "not a valid host name"),
        ("https://93.184.216.34:99999/in", "port 99999 is not valid"),
        ("https://[::7f00:1]/", "::7f00:1 is not a public address"),
        ("https://[64:ff9b::a00:1]/in", "64:ff9b::a00:1 is not a public address"),
        ("https://[64:ff9b:1::a00:1]/in", "not a public address"),
        ("https://[fec0::1]/in", "fec0::1 is not a public address"),
        ("https://[2002:a00:1::1]/in", "not a public address"),
        ("https://nat64.example.com/in", "resolves to 64:ff9b::a9fe:a9fe"),
        ("https://1.1.1.1:22/in", "port 22 is not allowed"),
        ("https://hooks.example.com:25/in", "port 25 is not allowed"),
    ],
)
async def test_urls_that_are_not_public_https_are_refused(
    strict_client: httpx.AsyncClient, url: str, reason: str
) -> None:
    response = await strict_client.post("/v1/webhook-endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "webhook_url_not_allowed"
    assert reason in problem["detail"]
    assert problem["errors"][0]["pointer"] == "/body/url"


async def test_a_hostname_resolving_to_loopback_is_refused(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
) -> None:
    """With the system resolver: `localhost` is really looked up."""
    own = settings.model_copy(update={"webhook_allow_private_urls": False})
    application = create_app(own, engine=engine, sessionmaker=sessionmaker)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://test",
            headers={"Authorization": f"Bearer {org.key}"},
        ) as client,
    ):
        response = await client.post("/v1/webhook-endpoints", json={"url": "https://localhost/"})
    assert response.status_code == 422
    assert "localhost resolves to" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com:8443/in",
        "https://public64.example.com/in",
        "https://[64:ff9b::5db8:d822]/in",
        "https://93.184.216.34:443/in",
    ],
)
async def test_public_addresses_in_any_form_and_unprivileged_ports_are_accepted(
    strict_client: httpx.AsyncClient, url: str
) -> None:
    await f.ok(await strict_client.post("/v1/webhook-endpoints", json={"url": url}), 201)


async def test_public_https_urls_are_accepted_and_checked_again_on_patch(
    strict_client: httpx.AsyncClient,
) -> None:
    created = await f.ok(
        await strict_client.post(
            "/v1/webhook-endpoints", json={"url": "https://hooks.example.com/in"}
        ),
        201,
    )
    refused = await strict_client.patch(
        f"/v1/webhook-endpoints/{created['id']}", json={"url": "https://internal.example.com/"}
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "webhook_url_not_allowed"


async def test_private_urls_are_allowed_when_the_setting_is_on(client: httpx.AsyncClient) -> None:
    for url in ("http://127.0.0.1:8080/in", "http://localhost/in", "https://10.0.0.1/in"):
        await f.ok(await client.post("/v1/webhook-endpoints", json={"url": url}), 201)


def test_the_private_url_setting_follows_the_provider_mode_unless_set() -> None:
    sandbox = Settings()
    live = Settings(
        provider_mode=ProviderMode.LIVE,
        tiktok_primary_base_url="https://tiktok.example",
        tiktok_backup_base_url="https://backup.example",
        instagram_base_url="https://instagram.example",
        tiktok_backup_api_key="k",
        instagram_api_key="k",
        secret_key="a-production-secret-key-of-at-least-32-bytes",
    )
    assert allow_private_urls(sandbox) is True
    assert allow_private_urls(live) is False
    assert allow_private_urls(live.model_copy(update={"webhook_allow_private_urls": True}))
    assert not allow_private_urls(sandbox.model_copy(update={"webhook_allow_private_urls": False}))


def test_the_openapi_document_lists_event_types_and_bounds(app: object) -> None:
    spec = app.openapi()  # type: ignore[attr-defined]
    schemas = spec["components"]["schemas"]
    event_types = schemas["EventType"]["enum"]
    assert "post.finalized" in event_types
    assert "webhook.test" not in event_types
    create_ = schemas["WebhookEndpointCreate"]["properties"]
    assert create_["url"]["maxLength"] == 2000
    assert "secret" in schemas["WebhookEndpointCreated"]["required"]
    assert "secret" not in schemas["WebhookEndpointOut"]["properties"]
