"""The payout workbook (GET /v1/payouts/{id}/export.xlsx, issue 27): read back by openpyxl and
by LibreOffice opened with no options, its amounts are the batch's own to the cent, its ids
exact text with no apostrophe, its dates dates, its formula-looking text text. And the two
reads the payments page shows beside it: the pulse and the posts behind each ready line."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.models import Creator, Post
from app.services.payout_workbook import MEDIA_TYPE, POST_COLUMNS
from tests import factories as f
from tests.api.test_payouts import EVIL, _finalize, _world
from tests.api.test_permissions import as_restricted_key
from tests.workbook_kit import libreoffice_sheets

USER_ID = "6718335390845095173"  # 19 digits: a spreadsheet reading it as a number rounds it
FORMULA = "=1+1"


async def _paid_world(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, Any]:
    """test_payouts' world, with amounts whose cents a rounding would change, a handle with
    accents (as a platform could sync it), a 19-digit user id, a campaign named like a
    formula and another like a formula that would run."""
    w = await _world(client, session)
    await client.patch(f"/v1/campaigns/{w['usd']['id']}", json={"name": FORMULA})
    await client.patch(f"/v1/campaigns/{w['eur']['id']}", json={"name": "Été " + EVIL})
    await session.execute(
        update(Creator)
        .where(Creator.id == uuid.UUID(w["ana"]["id"]))
        .values(handle="Été.ana", platform_user_id=USER_ID)
    )
    await session.commit()
    await _finalize(session, w["posts"]["ana_usd_1"], 2_345, "10.55")
    await _finalize(session, w["posts"]["ana_eur"], 5_000, "15.05")
    return w


def _sheet_rows(book: Any, name: str) -> list[dict[str, Any]]:
    rows = list(book[name].iter_rows())
    header = [c.value for c in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


async def test_the_workbook_holds_the_batch_s_amounts_exactly_with_typed_cells(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _paid_world(client, session)
    batch = await f.ok(await client.post("/v1/payouts", json={}), 201)

    answer = await client.get(f"/v1/payouts/{batch['id']}/export.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert f'filename="payout-{batch["id"]}.xlsx"' in answer.headers["content-disposition"]
    book = openpyxl.load_workbook(BytesIO(answer.content))
    assert book.sheetnames == ["Summary", "Posts", "Payout"]

    # Summary: the API's lines (per creator and currency), to the cent.
    summary = _sheet_rows(book, "Summary")
    assert [
        (
            r["creator_handle"].value,
            r["currency"].value,
            r["posts"].value,
            r["locked_views"].value,
            Decimal(str(r["amount"].value)).quantize(Decimal("0.01")),
        )
        for r in summary
    ] == [
        (c["creator_handle"], c["currency"], c["posts"], c["locked_views"], Decimal(c["amount"]))
        for c in batch["creators"]
    ]
    for r in summary:
        assert r["amount"].data_type == "n"
        assert r["amount"].number_format == f'#,##0.00" {r["currency"].value}"'
    assert summary[-1]["platform_user_id"].value == USER_ID
    assert summary[-1]["platform_user_id"].data_type == "s"

    # Posts: each post's earnings as the API shows the post, and as the CSV writes them.
    posts = _sheet_rows(book, "Posts")
    assert list(posts[0]) == list(POST_COLUMNS)
    assert len(posts) == batch["posts"] == 4
    currencies = {w[c]["id"]: w[c]["currency"] for c in ("usd", "eur")}
    csv_lines = (await client.get(f"/v1/payouts/{batch['id']}/export.csv")).text.splitlines()
    for r in posts:
        post = await f.ok(await client.get(f"/v1/posts/{r['post_id'].value}"))
        amount = Decimal(str(r["earnings"].value)).quantize(Decimal("0.01"))
        assert amount == Decimal(post["earnings"]), post["id"]
        currency = currencies[post["campaign_id"]]
        assert (r["currency"].value, r["earnings"].number_format) == (
            currency,
            f'#,##0.00" {currency}"',
        )
        assert r["platform_post_id"].value == post["platform_post_id"]
        assert r["platform_post_id"].data_type == "s"
        assert r["finalized_at"].value == datetime.fromisoformat(post["finalized_at"]).astimezone(
            UTC
        ).replace(tzinfo=None)
        assert r["finalized_at"].is_date
        assert r["locked_views"].value == post["locked_views"]
        assert r["evidence_url"].value == f"/v1/posts/{post['id']}/evidence"
        (in_csv,) = [ln for ln in csv_lines if ln.endswith(f"/v1/posts/{post['id']}/evidence")]
        assert f",{post['earnings']},{currency}," in in_csv
    mine = next(r for r in posts if r["post_id"].value == w["posts"]["ana_usd_1"])
    assert (mine["earnings"].value, mine["cpm"].value, mine["cap"].value) == (10.55, 4.5, 100)
    assert mine["cpm"].number_format == '#,##0.0000" USD"'
    # Formula-looking text is text, marked as entered as text: shown as typed, never run.
    assert (mine["campaign"].value, mine["campaign"].data_type) == (FORMULA, "s")
    assert mine["campaign"].quotePrefix
    euro = next(r for r in posts if r["post_id"].value == w["posts"]["ana_eur"])
    assert (euro["campaign"].value, euro["campaign"].data_type) == ("Été " + EVIL, "s")
    assert euro["creator_handle"].value == "Été.ana"
    assert not any(c.data_type == "f" for ws in book for row in ws.iter_rows() for c in row)

    payout = {r["field"].value: r["value"].value for r in _sheet_rows(book, "Payout")}
    assert payout["payout_id"] == batch["id"]
    assert payout["status"] == "open"
    totals = {k: v for k, v in payout.items() if k.startswith("total ")}
    assert totals == {
        f"total {t['currency']} ({t['posts']} posts)": float(t["amount"])
        for t in batch["currencies"]
    }


async def test_libreoffice_opens_the_workbook_exact_with_no_options(
    client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    w = await _paid_world(client, session)
    batch = await f.ok(await client.post("/v1/payouts", json={}), 201)
    path = tmp_path / "payout.xlsx"
    path.write_bytes((await client.get(f"/v1/payouts/{batch['id']}/export.xlsx")).content)

    sheets = libreoffice_sheets(path)
    assert list(sheets) == ["Summary", "Posts", "Payout"]
    header, *lines = sheets["Summary"]
    assert [c.text for c in header] == [
        "creator_handle", "platform", "platform_user_id", "currency", "posts", "locked_views",
        "amount",
    ]  # fmt: skip
    assert [[c.text for c in line] for line in lines] == [
        ["bo", "tiktok", "", "USD", "1", "1,000", "4.50 USD"],
        ["Été.ana", "tiktok", USER_ID, "EUR", "1", "5,000", "15.05 EUR"],
        ["Été.ana", "tiktok", USER_ID, "USD", "2", "12,345", "55.55 USD"],
    ]
    # The amounts are numbers (what a spreadsheet adds up), equal to the API's lines.
    api = {(c["creator_handle"], c["currency"]): c["amount"] for c in batch["creators"]}
    for line in lines:
        assert line[6].value is not None
        held = Decimal(line[6].value).quantize(Decimal("0.01"))
        assert held == Decimal(api[(line[0].text, line[3].text)])

    header, *posts = sheets["Posts"]
    columns = [c.text for c in header]
    assert columns == list(POST_COLUMNS)
    by_post = {row[columns.index("post_id")].text: row for row in posts}
    mine = by_post[w["posts"]["ana_usd_1"]]
    shown = {name: mine[columns.index(name)] for name in columns}
    assert shown["campaign"].text == FORMULA  # as typed: not 2, no apostrophe
    assert shown["campaign"].value is None  # text, not a number
    assert shown["platform_post_id"].text == "7300000000000000001"
    assert shown["platform_user_id"].text == USER_ID
    assert shown["earnings"].text == "10.55 USD"
    assert shown["cpm"].text == "4.5000 USD"
    assert shown["finalized_at"].text == "2026-11-01 12:00:00"
    assert shown["finalized_at"].value is not None  # a date: a number underneath
    euro = by_post[w["posts"]["ana_eur"]]
    assert euro[columns.index("campaign")].text == "Été " + EVIL
    assert not any("'" in c.text for row in sheets["Posts"] for c in row if c.text != "Été " + EVIL)


async def test_the_pulse_and_the_posts_behind_each_ready_line(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    pending = (await f.post(client, w["usd"]["id"], url="https://www.tiktok.com/@bo/video/9"))["id"]
    await session.execute(
        update(Post)
        .where(Post.id == uuid.UUID(pending))
        .values(status=PostStatus.PENDING_CPM, locked_views=1_500, cpm_tier_id=None)
    )
    await session.commit()
    now = datetime.now(UTC)
    pulse = await f.ok(await client.get("/v1/payouts/pulse"))
    assert pulse["pending_cpm"] == {"posts": 1, "locked_views": 1_500}
    assert pulse["ready"] == [
        {"currency": "EUR", "posts": 1, "amount": "15.00"},
        {"currency": "USD", "posts": 3, "amount": "58.50"},
    ]
    assert (pulse["in_open_batches"], pulse["paid_this_month"]) == ([], [])
    assert pulse["month_start"] == now.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    ).isoformat().replace("+00:00", "Z")

    # The posts behind each line sum to the line; one line's by creator and currency.
    lines = (await f.ok(await client.get("/v1/payouts/ready")))["data"]
    behind, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await f.ok(await client.get("/v1/payouts/ready/posts", params=params))
        behind += page["data"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert [(p["creator_id"], p["currency"]) for p in behind] == sorted(
        (p["creator_id"], p["currency"]) for p in behind
    )
    for line in lines:
        mine = [
            p
            for p in behind
            if (p["creator_id"], p["currency"]) == (line["creator_id"], line["currency"])
        ]
        assert len(mine) == line["posts"]
        assert sum(Decimal(p["earnings"]) for p in mine) == Decimal(line["amount"])
        assert sum(p["locked_views"] for p in mine) == line["locked_views"]
    one = await f.ok(
        await client.get(
            "/v1/payouts/ready/posts", params={"creator_id": w["ana"]["id"], "currency": "usd"}
        )
    )
    assert sorted(p["post_id"] for p in one["data"]) == sorted(
        [w["posts"]["ana_usd_1"], w["posts"]["ana_usd_2"]]
    )
    assert {p["campaign"] for p in one["data"]} == {"Summer USD"}

    # A batch moves its amounts from ready to open, paying it to paid this month.
    batch = await f.ok(await client.post("/v1/payouts", json={"campaign_id": w["usd"]["id"]}), 201)
    pulse = await f.ok(await client.get("/v1/payouts/pulse"))
    assert pulse["ready"] == [{"currency": "EUR", "posts": 1, "amount": "15.00"}]
    assert pulse["in_open_batches"] == [{"currency": "USD", "posts": 3, "amount": "58.50"}]
    await f.ok(
        await client.post(f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "W"})
    )
    pulse = await f.ok(await client.get("/v1/payouts/pulse"))
    assert pulse["in_open_batches"] == []
    assert pulse["paid_this_month"] == [{"currency": "USD", "posts": 3, "amount": "58.50"}]
    # Paid last month: not this month's.
    await session.execute(
        update(Post)
        .where(Post.id == uuid.UUID(w["posts"]["bo_usd"]))
        .values(paid_at=pulse_month(pulse) - timedelta(seconds=1))
    )
    await session.commit()
    pulse = await f.ok(await client.get("/v1/payouts/pulse"))
    assert pulse["paid_this_month"] == [{"currency": "USD", "posts": 2, "amount": "54.00"}]

    # A caller restricted to the EUR campaign sees its campaign's only.
    async with as_restricted_key(app, client, w["eur"]["id"], "viewer") as eur_only:
        mine_only = await f.ok(await eur_only.get("/v1/payouts/pulse"))
        assert mine_only["ready"] == [{"currency": "EUR", "posts": 1, "amount": "15.00"}]
        assert (mine_only["paid_this_month"], mine_only["pending_cpm"]["posts"]) == ([], 0)
        posts = await f.ok(await eur_only.get("/v1/payouts/ready/posts"))
        assert [p["post_id"] for p in posts["data"]] == [w["posts"]["ana_eur"]]
        hidden = await eur_only.get(f"/v1/payouts/{batch['id']}/export.xlsx")
        assert (hidden.status_code, hidden.json()["code"]) == (404, "payout_not_found")


def pulse_month(pulse: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(pulse["month_start"])


async def test_ready_posts_refuse_what_the_contract_refuses(client: httpx.AsyncClient) -> None:
    bad = await client.get("/v1/payouts/ready/posts", params={"currency": "dollars"})
    assert bad.status_code == 422
    unknown = await client.get("/v1/payouts/ready/posts", params={"status": "paid"})
    assert unknown.status_code == 422
