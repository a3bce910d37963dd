"""A post's page (/app/posts/{id}): its stats over time drawn from the API's series with the
numbers beside, its holds and flags with their actions, its history; a post outside the
viewer's reach reads as not found, as in the API."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus, StatsSource
from app.models import StatsSnapshot
from app.web import post_page
from tests import factories as f
from tests.conftest import MakeOrg
from tests.web.session_kit import flag, hold, set_post, signed_in

URL = "https://www.tiktok.com/@scout2015/video/7330000000000000001"
# Three fetches, hours apart (views, likes, comments, shares).
FETCHES = [(1_200, 40, 5, 2), (5_400, 180, 21, 9), (12_345_678, 654_321, 4_321, 321)]


async def _snapshots(session: AsyncSession, post: dict[str, str], now: datetime) -> None:
    """What three fetches would have stored, and the post added before the first."""
    await set_post(session, post["id"], created_at=now - timedelta(days=1))
    for hours_ago, (views, likes, comments, shares) in zip((20, 13, 6), FETCHES, strict=True):
        session.add(
            StatsSnapshot(
                post_id=uuid.UUID(post["id"]),
                campaign_id=uuid.UUID(post["campaign_id"]),
                captured_at=now - timedelta(hours=hours_ago),
                views=views,
                likes=likes,
                comments=comments,
                shares=shares,
                source=StatsSource.PRIMARY,
            )
        )
    await session.commit()


async def test_the_page_tells_the_posts_story(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    post = await f.post(client, s["campaign"]["id"], url=URL)
    await _snapshots(session, post, datetime.now(UTC))
    await hold(session, post, reason="The platform says @someone posted it.")
    await flag(session, post, reason="Views jumped 10x in six hours.")
    web = await signed_in(app, client, "ops@example.com")
    page = await web.get(f"/app/posts/{post['id']}")
    assert page.status_code == 200
    text = page.text
    # Four charts (views, likes, comments, shares), a dot per fetch in each; the same
    # numbers in the table, as the API's series has them.
    assert text.count('<svg class="chart"') == 4
    assert text.count('class="chart-point"') == 4 * len(FETCHES)
    series = await f.ok(await web.get(f"/v1/posts/{post['id']}/stats", params={"bucket": "hour"}))
    assert [p["views"] for p in series["data"]] == [v for v, *_ in FETCHES]
    rows = re.findall(
        r"<tr><td class=\"nowrap\">[^<]+</td>((?:<td class=\"num\">[^<]+</td>){4})", text
    )
    assert [re.findall(r">([^<]+)<", r) for r in rows] == [
        [f"{n:,}" for n in fetch] for fetch in FETCHES
    ]
    # The hold and the flag, each with its action; the history says who added the post.
    assert "The platform says @someone posted it." in text
    assert 'value="clear_hold"' in text
    assert "Views jumped 10x in six hours." in text
    assert 'value="resolve_flag"' in text
    assert f"/v1/posts/{post['id']}/evidence" in text
    assert "Status history" in text


async def test_a_series_longer_than_a_page_of_buckets_is_drawn_whole(
    app: object, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page reads its first page of buckets with its campaign, creator and tier
    (app.repositories.post_page_reads), and the rest as the API pages them."""
    monkeypatch.setattr(post_page, "_PAGE", 2)
    s = await f.setup_campaign(client)
    post = await f.post(client, s["campaign"]["id"], url=URL)
    await _snapshots(session, post, datetime.now(UTC))
    web = await signed_in(app, client, "ops@example.com")
    text = (await web.get(f"/app/posts/{post['id']}")).text
    assert text.count('class="chart-point"') == 4 * len(FETCHES)
    assert f"{FETCHES[-1][0]:,}</td>" in text
    assert "<h1>@scout2015 " in text
    assert "<dt>Tier</dt><dd>Standard (4.50 per 1,000)</dd>" in text
    assert f"{s['campaign']['name']} · <a" in text


async def test_another_organizations_post_and_one_outside_a_members_campaigns_are_not_found(
    app: object,
    client: httpx.AsyncClient,
    make_org: MakeOrg,
    client_for: object,
) -> None:
    s = await f.setup_campaign(client)
    mine = await f.post(client, s["campaign"]["id"], url=URL)
    other = await f.campaign(client, name="Other campaign")
    other_org = await make_org("Other brand")
    async with client_for(other_org.key) as stranger:  # type: ignore[operator]
        theirs_setup = await f.setup_campaign(stranger)
        theirs = await f.post(stranger, theirs_setup["campaign"]["id"], url=URL)
    web = await signed_in(app, client, "ops@example.com")
    for missing in (theirs["id"], str(uuid.uuid4())):
        answer = await web.get(f"/app/posts/{missing}")
        assert answer.status_code == 404
        assert "No post here" in answer.text
    # A member of another campaign only: the same answer as for another organization's.
    member = await signed_in(
        app, client, "m@example.com", "member", {other["id"]: "campaign_admin"}
    )
    assert (await member.get(f"/app/posts/{mine['id']}")).status_code == 404
    assert (await member.get(f"/v1/posts/{mine['id']}")).status_code == 404  # as the API
    viewer = await signed_in(
        app, client, "v@example.com", "member", {s["campaign"]["id"]: "campaign_editor"}
    )
    assert (await viewer.get(f"/app/posts/{mine['id']}")).status_code == 200


async def test_a_tracked_post_offers_its_campaign_s_tiers_by_name(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The tier picker (app.repositories.tiers.choices, shared by the posts table's bulk
    action and the inbox): the post's own campaign's tiers, by name, none of another's, each
    with its CPM to the places it was set (app.web.templating.cpm)."""
    s = await f.setup_campaign(client, with_default_tier=False)
    campaign = s["campaign"]["id"]
    for name, cpm in (("zeta", "0.0025"), ("Alpha", "0.003"), ("mid", "12")):
        await f.tier(client, campaign, name=name, cpm=cpm)
    other = await f.campaign(client, name="Other")
    await f.tier(client, other["id"], name="Elsewhere")
    post = await f.post(client, campaign, url=URL)
    text = (
        await (await signed_in(app, client, "ops@example.com")).get(f"/app/posts/{post['id']}")
    ).text
    offered = re.findall(r'<option value="[0-9a-f-]{36}"[^>]*>([^<]+)</option>', text)
    # Each CPM as it was set: tiers a fraction of a cent apart read apart.
    assert offered == ["Alpha · 0.003", "mid · 12.00", "Standard · 4.50", "zeta · 0.0025"]


async def test_a_post_offers_the_actions_its_status_allows(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """What the lifecycle allows for the post's status (app.domain.lifecycle) is what the page
    offers: a held post may be given a tier, a finalized one's is locked, only a rejected
    one is restored and a paid one is neither rejected nor given a tier."""
    s = await f.setup_campaign(client)
    post = await f.post(client, s["campaign"]["id"], url=URL)
    ops = await signed_in(app, client, "ops@example.com")

    async def offered() -> set[str]:
        text = (await ops.get(f"/app/posts/{post['id']}")).text
        return {a for a in ("Assign tier", "Reject", "Restore") if f">{a}</button>" in text}

    assert await offered() == {"Assign tier", "Reject"}  # tracking
    await hold(session, post)
    assert await offered() == {"Assign tier", "Reject"}
    for status, actions in (
        (PostStatus.PENDING_CPM, {"Assign tier", "Reject"}),
        (PostStatus.FINALIZED, {"Reject"}),
        (PostStatus.REJECTED, {"Restore"}),
        (PostStatus.PAID, set()),
    ):
        await set_post(session, post["id"], status=status)
        assert await offered() == actions, status
