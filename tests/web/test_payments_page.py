"""Payments (/app/payments): the pulse, the ready lines and the batches are the API's answers;
a batch is made, paid and cancelled through the API's services under the API's operation
ids (audited alike), and a person the API would refuse is refused the same way."""

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from tests import factories as f
from tests.api.test_payouts import _world
from tests.web.session_kit import signed_in

HTMX = {"HX-Request": "true"}


def _cells(html: str) -> list[str]:
    """The page's table cells as text (tags dropped, spaces squeezed)."""
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]


async def _audited(session: AsyncSession, action: str) -> list[Any]:
    rows = await session.execute(
        select(AuditEvent.resource_id, AuditEvent.actor_user_id).where(AuditEvent.action == action)
    )
    return list(rows.all())


async def test_the_page_shows_the_api_s_numbers_and_pays_a_batch_from_ready_to_paid(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    web = await signed_in(app, client, "pay@example.com")
    page = await web.get("/app/payments")
    assert page.status_code == 200
    assert 'href="/app/payments" aria-current="page"' in page.text
    # Lines are capped one by one, so the form states what one batch of chosen posts takes.
    assert "A batch of selected posts takes at most 1,000 posts" in page.text
    cells = _cells(page.text)

    pulse = await f.ok(await web.get("/v1/payouts/pulse"))  # the same person, through the API
    for t in pulse["ready"]:
        assert f"{t['amount']} {t['currency']}" in page.text
    ready = await f.ok(await web.get("/v1/payouts/ready"))
    for line in ready["data"]:
        row = f"@{line['creator_handle']} TikTok"
        assert row in cells
        assert f"{line['amount']} {line['currency']}" in cells
    # Each line's posts load when it is opened: the API's posts behind that line, each a box
    # of the batch form.
    behind = await f.ok(await web.get("/v1/payouts/ready/posts", params={"limit": 200}))
    assert behind["data"]
    for line in ready["data"]:
        path = f"/app/payments/lines/{line['creator_id']}/{line['currency']}"
        assert f'hx-get="{path}"' in page.text
        posts = await web.get(path, headers=HTMX)
        assert posts.status_code == 200
        mine = [
            p["post_id"]
            for p in behind["data"]
            if (p["creator_id"], p["currency"]) == (line["creator_id"], line["currency"])
        ]
        assert re.findall(r'name="post_id" value="([0-9a-f-]{36})"', posts.text) == mine
        assert w["posts"]["bo_held"] not in posts.text  # not ready: not offered
    assert w["posts"]["bo_held"] not in page.text

    # Make a batch of two selected posts.
    chosen = [w["posts"]["ana_usd_1"], w["posts"]["bo_usd"]]
    made = await web.post(
        "/app/payments/batches", data={"what": "selected", "post_id": chosen}, headers=HTMX
    )
    assert made.status_code == 204, made.text
    where = made.headers["HX-Redirect"]
    payout_id = re.search(r"payout=([0-9a-f-]{36})", where)
    assert payout_id is not None
    batch = await f.ok(await web.get(f"/v1/payouts/{payout_id.group(1)}"))
    assert (batch["status"], batch["posts"]) == ("open", 2)
    assert batch["currencies"] == [{"currency": "USD", "posts": 2, "amount": "13.50"}]
    shown = await web.get(where)
    assert "Batch made" in shown.text
    assert f'href="/v1/payouts/{batch["id"]}/export.xlsx"' in shown.text
    assert f'href="/v1/payouts/{batch["id"]}/export.csv"' in shown.text
    assert "13.50 USD" in _cells(shown.text)  # in open batches, and the batch's own line
    assert (await web.get(f"/v1/payouts/{batch['id']}/export.xlsx")).status_code == 200

    # Mark it paid: a missing reference is said, not sent; then with one.
    blank = await web.post(
        f"/app/payments/batches/{batch['id']}/mark-paid",
        data={"payout_reference": "  "},
        headers=HTMX,
    )
    assert blank.status_code == 200
    assert "Give the payment&#39;s reference" in blank.text
    paid = await web.post(
        f"/app/payments/batches/{batch['id']}/mark-paid",
        data={"payout_reference": "WIRE-42"},
        headers=HTMX,
    )
    assert paid.status_code == 204, paid.text
    after = await f.ok(await web.get(f"/v1/payouts/{batch['id']}"))
    assert (after["status"], after["payout_reference"]) == ("paid", "WIRE-42")
    paid_page = await web.get(paid.headers["HX-Redirect"])
    assert "WIRE-42" in paid_page.text
    assert "Batch marked paid" in paid_page.text
    # A paid batch cannot be cancelled: the service's own words.
    late = await web.post(f"/app/payments/batches/{batch['id']}/cancel", headers=HTMX)
    assert late.status_code == 200
    assert "The payout is paid; it cannot be cancelled." in late.text

    # Audited as the API audits the same operations, under the person.
    users = (await f.ok(await client.get("/v1/users")))["data"]
    (me,) = [u["id"] for u in users if u["email"].startswith("pay+")]
    for action in ("payout.created", "payout.paid"):
        assert await _audited(session, action) == [(batch["id"], uuid.UUID(me))], action


async def test_everything_ready_in_a_campaign_and_cancel_releases_it(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    web = await signed_in(app, client, "pay@example.com")
    filtered = await web.get("/app/payments", params={"campaign_id": w["eur"]["id"]})
    assert "everything ready in this campaign" in filtered.text
    assert w["posts"]["ana_usd_1"] not in filtered.text
    made = await web.post(
        "/app/payments/batches",
        data={"what": "everything", "campaign_id": w["eur"]["id"]},
        headers=HTMX,
    )
    assert made.status_code == 204, made.text
    (batch,) = (await f.ok(await web.get("/v1/payouts", params={"status": "open"})))["data"]
    assert batch["currencies"] == [{"currency": "EUR", "posts": 1, "amount": "15.00"}]
    again = await web.post(
        "/app/payments/batches",
        data={"what": "everything", "campaign_id": w["eur"]["id"]},
        headers=HTMX,
    )
    assert "No post of the selection is ready to pay." in again.text
    none = await web.post("/app/payments/batches", data={"what": "selected"}, headers=HTMX)
    assert "Select at least one post" in none.text

    cancelled = await web.post(f"/app/payments/batches/{batch['id']}/cancel", headers=HTMX)
    assert cancelled.status_code == 204
    assert "state=cancelled" in cancelled.headers["HX-Redirect"]
    listed = await web.get("/app/payments", params={"state": "cancelled"})
    assert f'id="batch-{batch["id"]}"' in listed.text
    ready = await f.ok(await web.get("/v1/payouts/ready", params={"campaign_id": w["eur"]["id"]}))
    assert ready["data"][0]["posts"] == 1  # released: ready again


async def test_a_person_the_api_refuses_is_refused_the_same_way(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    usd, eur = w["usd"]["id"], w["eur"]["id"]
    # A member with no campaign: no Payments in the navigation, nothing to read.
    nobody = await signed_in(app, client, "nobody@example.com", "member")
    home = await nobody.get("/app")
    assert 'href="/app/payments"' not in home.text
    page = await nobody.get("/app/payments")
    assert "on none of your campaigns" in page.text
    assert (await nobody.get("/v1/payouts/pulse")).status_code == 403
    forged = await nobody.post("/app/payments/batches", data={"what": "everything"}, headers=HTMX)
    assert "Your role does not allow post.mark_paid." in forged.text
    assert (await nobody.post("/v1/payouts", json={})).status_code == 403

    # A campaign admin of the EUR campaign: its lines only, batches of its posts only.
    eur_admin = await signed_in(app, client, "eur@example.com", "member", {eur: "campaign_admin"})
    page = await eur_admin.get("/app/payments")
    opened = [
        (await eur_admin.get(path, headers=HTMX)).text
        for path in re.findall(r'hx-get="(/app/payments/lines/[^"]+)"', page.text)
    ]
    assert any(w["posts"]["ana_eur"] in posts for posts in opened)
    # Ana's USD line asked for by hand: none of its posts are within this person's reach.
    ana = (await f.ok(await client.get(f"/v1/posts/{w['posts']['ana_usd_1']}")))["creator_id"]
    forged_line = await eur_admin.get(f"/app/payments/lines/{ana}/USD", headers=HTMX)
    assert w["posts"]["ana_usd_1"] not in forged_line.text
    assert "No post of this line is ready to pay" in forged_line.text
    # Someone who may read no payouts is told so, not that the line has been paid.
    unseen = await nobody.get(f"/app/payments/lines/{ana}/USD", headers=HTMX)
    assert w["posts"]["ana_usd_1"] not in unseen.text
    assert "No post of this line is ready to pay" not in unseen.text
    assert "allow reading payouts on none of your campaigns" in unseen.text
    assert "15.00 EUR" in page.text
    assert "USD" not in " ".join(_cells(page.text))
    other = await eur_admin.post(
        "/app/payments/batches",
        data={"what": "selected", "post_id": [w["posts"]["ana_usd_1"]]},
        headers=HTMX,
    )
    assert "not ready to pay" in other.text  # as the API's 409 posts_not_ready says
    api = await eur_admin.post("/v1/payouts", json={"post_ids": [w["posts"]["ana_usd_1"]]})
    assert (api.status_code, api.json()["code"]) == (409, "posts_not_ready")
    usd_batch = await f.ok(await client.post("/v1/payouts", json={"campaign_id": usd}), 201)
    hidden = await eur_admin.post(f"/app/payments/batches/{usd_batch['id']}/cancel", headers=HTMX)
    assert "No payout with that id." in hidden.text
    assert (await f.ok(await client.get(f"/v1/payouts/{usd_batch['id']}")))["status"] == "open"
