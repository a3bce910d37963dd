"""Settings (/app/settings and /app/settings/webhooks): an organization admin manages the
team, two-factor, API keys, webhook endpoints and Discord as the API does (the same rows,
the same audit records), each secret shown in the answer that made it and never again; a
member is not offered settings and is refused every settings action as the API refuses them;
a write without the session's CSRF token is refused."""

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.discord.demo import new_key_pair
from app.models import ApiKey, AuditEvent, Campaign, CampaignRoleGrant, User, WebhookEndpoint
from app.platforms.sandbox import create_app as create_sandbox
from app.platforms.sandbox.discord import FakeDiscord
from app.services.readiness import CAPACITY_KEY
from tests import factories as f
from tests.browser.dashboard_kit import add_user
from tests.web.session_kit import signed_in

HTMX = {"HX-Request": "true"}
APP_ID = "1187654321098765432"


@pytest.fixture
def fake_discord() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
def outbound_transport(fake_discord: FakeDiscord) -> httpx.AsyncBaseTransport:
    """The API's outbound requests: the sandbox, with a fake Discord this test can read."""
    return httpx.ASGITransport(app=create_sandbox(discord=fake_discord))


async def _actions(session: AsyncSession, org: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.organization_id == org)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )
    return list(rows)


def _ok(answer: httpx.Response) -> str:
    """A page answered (200) with the action done, not refused."""
    assert answer.status_code == 200, answer.text
    assert "Nothing was changed." not in answer.text, answer.text
    return answer.text


def _shown(page: str) -> str:
    """The secret an answer shows (once)."""
    found = re.search(r"<code class=\"break\" data-secret>([^<]+)</code>", page)
    assert found is not None, page
    return found.group(1)


async def _org(client: httpx.AsyncClient) -> uuid.UUID:
    return uuid.UUID((await f.ok(await client.get("/v1/me")))["organization_id"])


async def test_team_keys_and_two_factor_as_the_api_does_them(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    org = await _org(client)
    web = await signed_in(app, client, "owner@example.com")
    page = await web.get("/app/settings")
    assert page.status_code == 200
    assert 'href="/app/settings" aria-current="page"' in page.text

    # Invite: the link is in this answer, works once, and is never shown again.
    invited = await web.post(
        "/app/settings/users",
        data={"email": "Kim@Example.com", "name": "Kim", "role": "member"},
        headers=HTMX,
    )
    assert invited.status_code == 200
    link = _shown(invited.text)
    assert "/set-password?token=" in link or "token=" in link
    users = (await f.ok(await client.get("/v1/users")))["data"]
    kim = next(u for u in users if u["email"] == "kim@example.com")
    assert (kim["role"], kim["status"], kim["name"]) == ("member", "invited", "Kim")
    assert link not in (await web.get("/app/settings")).text
    again = await web.post(
        "/app/settings/users", data={"email": "kim@example.com", "role": "member"}, headers=HTMX
    )
    assert "A user with that email already exists." in again.text
    bad = await web.post("/app/settings/users", data={"email": "nobody", "role": "member"})
    assert bad.status_code == 200
    assert "Email:" in bad.text

    # Role, two-factor reset, removal: the API's rows.
    _ok(await web.post(f"/app/settings/users/{kim['id']}/role", data={"role": "admin"}))
    assert (await f.ok(await client.get(f"/v1/users/{kim['id']}")))["role"] == "admin"
    _ok(await web.post(f"/app/settings/users/{kim['id']}/two-factor-reset"))
    _ok(await web.post(f"/app/settings/users/{kim['id']}/remove"))
    assert (await f.ok(await client.get(f"/v1/users/{kim['id']}")))["status"] == "removed"
    missing = await web.post(f"/app/settings/users/{uuid.uuid4()}/remove")
    assert "No user with that id" in missing.text or "not found" in missing.text.lower()

    # Two-factor for the organization.
    saved = _ok(await web.post("/app/settings/organization", data={"require_two_factor": "admins"}))
    assert (await f.ok(await client.get("/v1/organization")))["require_two_factor"] == "admins"
    # The page that answers shows the rule just saved (saving it again keeps it).
    assert '<option value="admins" selected>' in saved
    assert '<option value="off" selected>' not in saved
    wrong = await web.post("/app/settings/organization", data={"require_two_factor": "always"})
    assert "Require two factor:" in wrong.text
    assert (await f.ok(await client.get("/v1/organization")))["require_two_factor"] == "admins"

    # An API key: shown in this answer, works, listed by its prefix only, then revoked.
    made = await web.post("/app/settings/api-keys", data={"name": "ci", "role": "viewer"})
    key = _shown(made.text)
    assert key.startswith("vl_")
    keyed = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert (await f.ok(await keyed.get("/v1/me")))["role"] == "viewer"
    listed = (await f.ok(await client.get("/v1/api-keys")))["data"]
    (ci,) = [k for k in listed if k["name"] == "ci"]
    later = (await web.get("/app/settings")).text
    assert key not in later
    assert f"<code>{ci['prefix']}…</code>" in later
    _ok(await web.post(f"/app/settings/api-keys/{ci['id']}/revoke"))
    assert (await keyed.get("/v1/me")).status_code == 401
    admin_key = next(k for k in listed if k["role"] == "admin" and k["revoked_at"] is None)
    last = await web.post(f"/app/settings/api-keys/{admin_key['id']}/revoke")
    assert "last" in last.text.lower()
    assert "Nothing was changed." in last.text

    done = [a for a in await _actions(session, org) if not a.startswith("user.signed")]
    assert done[done.index("user.password_set") + 1 :] == [  # after the kit's sign-up
        "user.invited",
        "user.updated",
        "user.two_factor_reset",
        "user.removed",
        "organization.updated",
        "api_key.created",
        "api_key.revoked",
    ]
    actor = await session.scalar(
        select(AuditEvent.actor_user_id).where(AuditEvent.action == "api_key.created")
    )
    assert actor is not None


async def test_the_page_after_an_admin_changes_their_own_role_shows_the_new_role(
    app: object, client: httpx.AsyncClient
) -> None:
    web = await signed_in(app, client, "self@example.com")
    me = (await f.ok(await web.get("/v1/session")))["user"]
    assert f"{me['email']} · Admin</p>" in (await web.get("/app/settings")).text
    answer = _ok(await web.post(f"/app/settings/users/{me['id']}/role", data={"role": "member"}))
    # The user menu reads the user as now stored, not as the request signed in.
    assert f"{me['email']} · Member</p>" in answer


async def _audited(session: AsyncSession, action: str) -> list[tuple[str | None, dict[str, Any]]]:
    rows = await session.execute(
        select(AuditEvent.resource_id, AuditEvent.details)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )
    return [(r.resource_id, r.details) for r in rows]


async def test_campaign_roles_are_given_changed_and_taken_away_as_the_api_does(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    web = await signed_in(app, client, "owner@example.com")
    kim = await add_user(client, f"kim+{uuid.uuid4().hex[:8]}@example.com", "member")
    page = (await web.get("/app/settings")).text
    assert f'hx-post="/app/settings/users/{kim["id"]}/campaign-roles"' in page
    assert f'<option value="{cid}">{s["campaign"]["name"]}</option>' in page
    roles = f"/v1/campaigns/{cid}/roles"
    given = f"/app/settings/users/{kim['id']}/campaign-roles"

    answer = _ok(await web.post(given, data={"campaign_id": cid, "role": "campaign_editor"}))
    assert f"{kim['email']} is now campaign editor on {s['campaign']['name']}." in answer
    assert f"{s['campaign']['name']}: Campaign editor" in answer
    listed = (await f.ok(await client.get(roles)))["data"]
    assert [(r["user_id"], r["role"]) for r in listed] == [(kim["id"], "campaign_editor")]
    # Given again with another role: changed, as the API's PUT does.
    _ok(await web.post(given, data={"campaign_id": cid, "role": "campaign_admin"}))
    listed = (await f.ok(await client.get(roles)))["data"]
    assert [(r["user_id"], r["role"]) for r in listed] == [(kim["id"], "campaign_admin")]

    # What the API refuses, the page says, and nothing changes.
    wrong = await web.post(given, data={"campaign_id": cid, "role": "owner"})
    assert "Role:" in wrong.text
    unknown = await web.post(
        given, data={"campaign_id": str(uuid.uuid4()), "role": "campaign_admin"}
    )
    assert "No campaign with that id." in unknown.text
    nobody = await web.post(
        f"/app/settings/users/{uuid.uuid4()}/campaign-roles",
        data={"campaign_id": cid, "role": "campaign_admin"},
    )
    assert "No user with that id." in nobody.text
    assert len((await f.ok(await client.get(roles)))["data"]) == 1

    removed = f"{given}/{cid}/remove"
    answer = _ok(await web.post(removed, headers=HTMX))
    assert f"{kim['email']} no longer holds a role on {s['campaign']['name']}." in answer
    assert (await f.ok(await client.get(roles)))["data"] == []
    again = await web.post(removed)
    assert "No campaign role with that id." in again.text

    # The audit records are the API's: on the campaign, naming the campaign and the user.
    api_made = await client.put(f"{roles}/{kim['id']}", json={"role": "campaign_editor"})
    await f.ok(api_made)
    details = {"campaign_id": cid, "user_id": kim["id"]}
    assert await _audited(session, "campaign_role.set") == [(cid, details)] * 3
    assert await _audited(session, "campaign_role.removed") == [(cid, details)]


async def test_an_api_key_restricted_to_chosen_campaigns(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    chosen = (await f.setup_campaign(client))["campaign"]
    other = await f.campaign(client, name="Other launch")
    web = await signed_in(app, client, "owner@example.com")
    page = (await web.get("/app/settings")).text
    assert f'name="campaign_id" value="{chosen["id"]}"' in page

    made = await web.post(
        "/app/settings/api-keys",
        data={"name": "agency", "role": "editor", "campaign_id": [chosen["id"]]},
        headers=HTMX,
    )
    assert "(editor, 1 campaign only)" in made.text
    key = _shown(made.text)
    keyed = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )
    seen = (await f.ok(await keyed.get("/v1/campaigns")))["data"]
    assert [c["id"] for c in seen] == [chosen["id"]]
    assert (await keyed.get(f"/v1/campaigns/{other['id']}")).status_code == 404
    listed = (await f.ok(await client.get("/v1/api-keys")))["data"]
    (agency,) = [k for k in listed if k["name"] == "agency"]
    assert agency["campaign_ids"] == [chosen["id"]]
    later = (await web.get("/app/settings")).text
    assert f"<td>{chosen['name']}</td>" in later

    # No campaign ticked: every campaign, as the API's null.
    whole = await web.post("/app/settings/api-keys", data={"name": "all", "role": "viewer"})
    assert "(viewer)" in whole.text
    listed = (await f.ok(await client.get("/v1/api-keys")))["data"]
    assert [k["campaign_ids"] for k in listed if k["name"] == "all"] == [None]
    before = len(listed)
    unknown = await web.post(
        "/app/settings/api-keys",
        data={"name": "x", "role": "viewer", "campaign_id": [str(uuid.uuid4())]},
    )
    assert "No campaign with that id." in unknown.text
    unreadable = await web.post(
        "/app/settings/api-keys", data={"name": "x", "role": "viewer", "campaign_id": ["nope"]}
    )
    assert "Campaign ids:" in unreadable.text
    assert len((await f.ok(await client.get("/v1/api-keys")))["data"]) == before


async def test_past_the_first_200_campaigns_the_form_offers_them_by_name_and_keys_name_theirs(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The form offers the first 200 campaigns by name (as the other pages' campaign
    filters); a key restricted to a campaign beyond them still names it."""
    last = await f.campaign(client, name="Zeta launch")
    org = await session.scalar(select(Campaign.organization_id).where(Campaign.id == last["id"]))
    assert org is not None
    session.add_all(Campaign(organization_id=org, name=f"Launch {i:03}") for i in range(200))
    await session.flush()
    await f.ok(
        await client.post(
            "/v1/api-keys", json={"name": "zeta", "role": "viewer", "campaign_ids": [last["id"]]}
        ),
        201,
    )
    web = await signed_in(app, client, "owner@example.com")
    page = (await web.get("/app/settings")).text
    offered = re.findall(r'name="campaign_id" value="([^"]+)"', page)
    assert len(offered) == 200
    assert last["id"] not in offered
    assert "the first 200 campaigns are offered" in page
    assert "<td>Zeta launch</td>" in page
    assert "a campaign no longer there" not in page


async def test_a_webhook_endpoint_s_secret_is_shown_once_and_its_log_is_the_api_s(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    org = await _org(client)
    web = await signed_in(app, client, "owner@example.com")
    refused = await web.post("/app/settings/webhooks", data={"url": "ftp://example.com/hooks"})
    assert refused.status_code == 200
    assert "Nothing was changed." in refused.text
    empty = await web.post("/app/settings/webhooks", data={"url": ""})
    assert "Url: String should have at least 1 character." in empty.text
    made = await web.post(
        "/app/settings/webhooks",
        data={
            "url": "http://127.0.0.1:9/hooks",
            "description": "Ledger",
            "event_type": ["post.paid", "payout.paid"],
        },
        headers=HTMX,
    )
    secret = _shown(made.text)
    assert secret.startswith("whsec_")
    (endpoint,) = (await f.ok(await client.get("/v1/webhook-endpoints")))["data"]
    assert endpoint["event_types"] == ["post.paid", "payout.paid"]
    base = f"/app/settings/webhooks/{endpoint['id']}"
    assert secret not in (await web.get(base)).text
    assert secret not in (await web.get("/app/settings/webhooks")).text

    tested = await web.post(f"{base}/test", headers=HTMX)
    assert "Test event queued" in tested.text
    (delivery,) = (
        await f.ok(await client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    )["data"]
    assert delivery["event_type"] == "webhook.test"
    assert delivery["event_id"] in tested.text
    retried = await web.post(f"{base}/deliveries/{delivery['id']}/retry")
    assert "Delivery queued again" in retried.text

    rotated = await web.post(f"{base}/rotate-secret")
    assert _shown(rotated.text) not in (secret, "")
    fetched = await f.ok(await client.get(f"/v1/webhook-endpoints/{endpoint['id']}"))
    assert fetched["previous_secret_expires_at"] is not None

    _ok(
        await web.post(
            base, data={"url": "http://127.0.0.1:9/other", "description": "Books", "enabled": ""}
        )
    )
    fetched = await f.ok(await client.get(f"/v1/webhook-endpoints/{endpoint['id']}"))
    assert (fetched["url"], fetched["description"], fetched["enabled"]) == (
        "http://127.0.0.1:9/other",
        "Books",
        False,
    )
    assert fetched["event_types"] is None  # no box ticked: every type
    disabled = await web.post(f"{base}/test")
    assert "The endpoint is disabled" in disabled.text

    _ok(await web.post(f"{base}/delete"))
    assert (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).status_code == 404
    assert [a for a in await _actions(session, org) if a.startswith("webhook")] == [
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    ]


async def test_discord_connects_registers_its_commands_and_disconnects(
    app: object, client: httpx.AsyncClient, fake_discord: FakeDiscord, redis: Redis
) -> None:
    web = await signed_in(app, client, "owner@example.com")
    _, public = new_key_pair()
    form = {"application_id": APP_ID, "public_key": public, "bot_token": "bot-token-secret"}
    bad = await web.post("/app/settings/discord", data={**form, "public_key": "xyz"})
    assert "Public key:" in bad.text
    connected = await web.post("/app/settings/discord", data=form, headers=HTMX)
    assert f"Discord application {APP_ID} connected." in connected.text
    assert "bot-token-secret" not in connected.text
    assert (await f.ok(await client.get("/v1/integrations/discord")))["application_id"] == APP_ID
    registered = await web.post("/app/settings/discord/commands")
    assert "Commands registered: /link, /submit-post, /my-posts." in registered.text
    assert [c["name"] for c in fake_discord.commands[APP_ID]] == ["link", "submit-post", "my-posts"]
    _ok(await web.post("/app/settings/discord/disconnect"))
    assert (await client.get("/v1/integrations/discord")).status_code == 404
    again = await web.post("/app/settings/discord/commands")
    assert "No discord integration" in again.text or "not found" in again.text.lower()


async def test_providers_show_what_health_ready_reports(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    figures = {
        "at": 0,
        "providers": {
            "tiktok": {
                "needed_per_hour": 1200.4,
                "available_per_hour": 7200,
                "lanes": 3,
                "parked_lanes": 1,
            }
        },
    }
    await redis.set(CAPACITY_KEY, json.dumps(figures))
    web = await signed_in(app, client, "owner@example.com")
    page = (await web.get("/app/settings")).text
    ready = (await client.get("/health/ready")).json()["checks"]
    assert f"Mode: <strong>{ready['providers:mode'][0]['observedValue']}</strong>" in page
    tiktok = ready["providers:capacity"][0]["observedValue"]["tiktok"]
    row = (
        f'<td>tiktok</td><td class="num">{tiktok["lanes"]}</td>'
        f'<td class="num">{tiktok["parked_lanes"]}</td>'
        f'<td class="num">{tiktok["needed_per_hour"]:,}</td>'
        f'<td class="num">{tiktok["available_per_hour"]:,}</td>'
    )
    assert row in page


MEMBER_ACTIONS = [
    ("/app/settings/users", {"email": "x@example.com", "role": "admin"}),
    ("/app/settings/users/{user}/role", {"role": "member"}),
    ("/app/settings/users/{user}/remove", {}),
    ("/app/settings/users/{user}/two-factor-reset", {}),
    ("/app/settings/organization", {"require_two_factor": "off"}),
    ("/app/settings/api-keys", {"name": "mine", "role": "admin"}),
    ("/app/settings/api-keys/{key}/revoke", {}),
    (
        "/app/settings/users/{user}/campaign-roles",
        {"campaign_id": "{campaign}", "role": "campaign_admin"},
    ),
    ("/app/settings/users/{user}/campaign-roles/{campaign}/remove", {}),
    ("/app/settings/discord", {"application_id": "1", "public_key": "a" * 64, "bot_token": "t"}),
    ("/app/settings/discord/disconnect", {}),
    ("/app/settings/discord/commands", {}),
    ("/app/settings/webhooks", {"url": "http://127.0.0.1:9/hooks"}),
    ("/app/settings/webhooks/{endpoint}", {"url": "http://127.0.0.1:9/x", "enabled": "on"}),
    ("/app/settings/webhooks/{endpoint}/rotate-secret", {}),
    ("/app/settings/webhooks/{endpoint}/test", {}),
    ("/app/settings/webhooks/{endpoint}/deliveries/{endpoint}/retry", {}),
    ("/app/settings/webhooks/{endpoint}/delete", {}),
]


async def _counts(session: AsyncSession) -> tuple[Any, ...]:
    return (
        await session.scalar(select(func.count()).select_from(User)),
        await session.scalar(select(func.count()).where(ApiKey.revoked_at.is_(None))),
        await session.scalar(select(func.count()).select_from(WebhookEndpoint)),
        await session.scalar(select(func.count()).select_from(CampaignRoleGrant)),
        await session.scalar(select(func.count()).select_from(AuditEvent)),
    )


async def test_a_member_is_not_offered_settings_and_is_refused_every_action(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    member = await signed_in(app, client, "ca@example.com", "member", {cid: "campaign_admin"})
    assert "/app/settings" not in (await member.get("/app")).text  # not in the navigation
    for path in ("/app/settings", "/app/settings/webhooks"):
        page = await member.get(path)
        assert page.status_code == 403
        assert "Only an organization admin" in page.text
    endpoint = await f.ok(
        await client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h"}), 201
    )
    user = (await f.ok(await client.get("/v1/users")))["data"][0]["id"]
    key = (await f.ok(await client.get("/v1/api-keys")))["data"][0]["id"]
    before = await _counts(session)
    for path, data in MEMBER_ACTIONS:
        where = path.format(user=user, key=key, endpoint=endpoint["id"], campaign=cid)
        form = {k: v.format(campaign=cid) for k, v in data.items()}
        answer = await member.post(where, data=form, headers=HTMX)
        assert answer.status_code == 403, (where, answer.text)
        assert answer.json()["code"] == "forbidden"
    assert await _counts(session) == before
    # The API refuses the same person the same operations.
    assert (await member.post("/v1/api-keys", json={"role": "admin"})).status_code == 403


async def test_a_write_without_the_csrf_token_is_refused(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    web = await signed_in(app, client, "owner@example.com")
    del web.headers["X-CSRF-Token"]
    before = await _counts(session)
    for path, data in MEMBER_ACTIONS[:6]:
        answer = await web.post(path.format(user=uuid.uuid4(), key=uuid.uuid4()), data=data)
        assert answer.status_code == 403
        assert answer.json()["code"] == "csrf_token_invalid"
    assert await _counts(session) == before
