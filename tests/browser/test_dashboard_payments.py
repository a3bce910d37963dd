"""A payment run in Chromium (issue 27): from what is ready to paid, in the dashboard alone.
The pulse shows the API's numbers; a creator's line is selected and made a batch; its XLSX,
downloaded as a person would, opens exact in openpyxl and in LibreOffice with no options
(ids, amounts, accents); the batch is marked paid with a reference."""

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import openpyxl
from playwright.async_api import Route
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Creator
from app.settings import Settings
from tests import factories as f
from tests.api.test_payouts import _world
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab
from tests.workbook_kit import libreoffice_sheets

USER_ID = "6718335390845095173"


async def test_a_payment_run_from_ready_to_paid(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis, tmp_path: Path
) -> None:
    async with admin_api(settings, engine, committed, name="Maison Été") as api:
        async with committed() as session:
            w = await _world(api, session)
            await session.execute(
                update(Creator)
                .where(Creator.id == uuid.UUID(w["ana"]["id"]))
                .values(handle="Été.ana", platform_user_id=USER_ID)
            )
            await session.commit()
        await f.ok(
            await api.patch(f"/v1/campaigns/{w['usd']['id']}", json={"name": "Campagne d'Été"})
        )
        await add_user(api, "paie@brand.example", name="Élodie Paie")
        pulse = await f.ok(await api.get("/v1/payouts/pulse"))
        ana_usd = [w["posts"]["ana_usd_1"], w["posts"]["ana_usd_2"]]

        with dashboard(settings) as origin:
            async with tab(origin) as t:
                await t.go("/app/payments")
                await t.sign_in("paie@brand.example")
                assert t.page.url.endswith("/app/payments")
                cards = await t.page.locator(".pulse").inner_text()
                for total in pulse["ready"]:
                    assert f"{total['amount']} {total['currency']}" in cards
                # Ana's USD line: its posts, then the line selected as a whole.
                line = (
                    t.page.locator("tbody[data-select-scope]")
                    .filter(has_text="@Été.ana")
                    .filter(has_text="54.00 USD")
                )
                # Selecting the line loads its posts (they load when a line is opened) and
                # selects them all. Until they are in, a batch of the selected posts waits
                # (sent now, it would leave them out).
                arrived = asyncio.Event()

                async def held(route: Route) -> None:
                    await arrived.wait()
                    await route.continue_()

                await t.page.route("**/app/payments/lines/**", held)
                make = t.page.get_by_role("button", name="Make a batch of the selected posts")
                await line.get_by_role("checkbox", name="Select @Été.ana's USD line").check()
                await t.page.wait_for_function(
                    "document.querySelector('#new-batch button[value=selected]').disabled"
                )
                arrived.set()
                await line.locator("tr.behind tbody tr").nth(1).wait_for()
                await t.page.wait_for_function(
                    "!document.querySelector('#new-batch button[value=selected]').disabled"
                )
                assert await make.is_enabled()
                await t.page.unroute("**/app/payments/lines/**")
                assert await line.locator("tr.behind tbody tr").count() == 2
                for post_id in ana_usd:
                    box = line.locator(f'input[value="{post_id}"]')
                    await box.wait_for()
                    assert await box.is_checked()
                await t.shoot("payments")
                await t.page.get_by_role(
                    "button", name="Make a batch of the selected posts"
                ).click()
                await t.page.wait_for_url("**done=made**")
                await t.page.get_by_text("Batch made").wait_for()
                (batch,) = (await f.ok(await api.get("/v1/payouts", params={"status": "open"})))[
                    "data"
                ]
                assert batch["currencies"] == [{"currency": "USD", "posts": 2, "amount": "54.00"}]
                await t.shoot("payments-batch")

                # The workbook, downloaded from the page.
                async with t.page.expect_download() as downloading:
                    await t.page.get_by_role("link", name="XLSX").click()
                download = await downloading.value
                path = tmp_path / download.suggested_filename
                await download.save_as(path)
                assert path.name == f"payout-{batch['id']}.xlsx"
                book = openpyxl.load_workbook(path)
                summary = list(book["Summary"].iter_rows(values_only=True))
                assert summary[1][:4] == ("Été.ana", "tiktok", USER_ID, "USD")
                assert Decimal(str(summary[1][6])).quantize(Decimal("0.01")) == Decimal("54.00")
                posts = list(book["Posts"].iter_rows(values_only=True))
                assert sorted(row[-1] for row in posts[1:]) == sorted(ana_usd)
                assert {row[3] for row in posts[1:]} == {"Campagne d'Été"}
                sheets = libreoffice_sheets(path)
                shown = [[c.text for c in row] for row in sheets["Summary"]]
                assert shown[1] == ["Été.ana", "tiktok", USER_ID, "USD", "2", "12,000", "54.00 USD"]
                header = [c.text for c in sheets["Posts"][0]]
                rows = [
                    dict(zip(header, (c.text for c in r), strict=True)) for r in sheets["Posts"][1:]
                ]
                assert sorted(r["earnings"] for r in rows) == ["45.00 USD", "9.00 USD"]
                assert {r["platform_post_id"] for r in rows} == {
                    "7300000000000000001",
                    "7300000000000000002",
                }
                assert {r["campaign"] for r in rows} == {"Campagne d'Été"}

                # Paid with a reference.
                await t.page.get_by_label("Payment reference").fill("VIR-ÉTÉ-2026-11")
                await t.page.get_by_role("button", name="Mark paid").click()
                await t.page.wait_for_url("**state=paid**")
                await t.page.get_by_text("Batch marked paid").wait_for()
                assert "VIR-ÉTÉ-2026-11" in await t.page.locator("table.batches").inner_text()
                paid = await f.ok(await api.get(f"/v1/payouts/{batch['id']}"))
                assert (paid["status"], paid["payout_reference"]) == ("paid", "VIR-ÉTÉ-2026-11")
                cards = await t.page.locator(".pulse").inner_text()
                assert "54.00 USD" in cards  # paid this month
                await t.shoot("payments-paid")
