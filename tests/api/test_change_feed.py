"""The change feed (posts sorted by updated_at): it never passes a write that is still open,
and it says how far it is held back and by what (issue 22 item 11)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import make_url, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import create_engine
from app.domain.enums import Platform
from app.models import Post
from app.repositories import api_keys
from app.repositories import posts as post_repo
from app.repositories import posts as posts_repo
from app.schemas.posts import PostListQuery, PostSort
from app.settings import Settings
from tests import factories as f
from tests.api.test_contract import SM, video
from tests.conftest import committed_client
from tests.engine_kit import seed


async def _hold_back(client: httpx.AsyncClient) -> float:
    answer = await client.get("/v1/posts", params={"sort": "updated_at"})
    assert answer.status_code == 200, answer.text
    return float(answer.headers["Change-Feed-Hold-Back"])


async def test_the_feed_says_how_far_it_is_held_back_and_by_what(
    settings: Settings, engine: AsyncEngine, committed: async_sessionmaker[AsyncSession]
) -> None:
    """Settled, the feed stops CHANGE_FEED_SETTLE_SECONDS behind now; an open write of this
    database holds it back further, visibly (a header and a metric); a reader in a
    transaction, or a writer in another database, does not."""
    async with committed() as session:
        _, key = await api_keys.create_organization(session, "Feed")
        await session.commit()
    settle = settings.change_feed_settle_seconds
    async with committed_client(settings, engine, key) as client:
        assert await _hold_back(client) == pytest.approx(settle, abs=0.5)
        assert REGISTRY.get_sample_value("viewledger_change_feed_hold_back_seconds") == (
            pytest.approx(settle, abs=0.5)
        )
        elsewhere = create_engine(
            settings.model_copy(
                update={
                    "database_url": make_url(settings.database_url)
                    .set(database="postgres")
                    .render_as_string(hide_password=False)
                }
            )
        )
        try:
            async with engine.connect() as reader, elsewhere.connect() as other_database:
                await reader.begin()
                await reader.execute(text("SELECT count(*) FROM posts"))
                await other_database.begin()
                await other_database.execute(text("SELECT txid_current()"))
                await asyncio.sleep(settle + 1)
                assert await _hold_back(client) == pytest.approx(settle, abs=0.5)
        finally:
            await elsewhere.dispose()
        async with engine.connect() as writer:
            await writer.begin()
            await writer.execute(text("SELECT txid_current()"))  # holds a transaction id
            await asyncio.sleep(settle + 1.5)
            held = await _hold_back(client)
            assert held >= settle + 1.5
            metric = REGISTRY.get_sample_value("viewledger_change_feed_hold_back_seconds")
            assert metric == pytest.approx(held, abs=0.001)
            await writer.rollback()
        assert await _hold_back(client) == pytest.approx(settle, abs=0.5)
        # Sorted any other way, a list is not the feed and says nothing of it.
        other = await client.get("/v1/posts")
        assert "Change-Feed-Hold-Back" not in other.headers


async def test_the_services_own_idle_transaction_holds_the_feed_back_only_until_its_timeout(
    settings: Settings, committed: async_sessionmaker[AsyncSession]
) -> None:
    """A transaction one of the service's connections leaves open and idle (a bug, a hung
    call inside it) is ended by the server after DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS, and
    the feed moves on."""
    own = settings.model_copy(update={"db_idle_in_transaction_timeout_seconds": 1})
    stalled = create_engine(own)
    try:
        async with stalled.connect() as connection:
            await connection.begin()
            await connection.execute(text("SELECT txid_current()"))
            async with committed() as session:
                assert await posts_repo.feed_hold_back(session, timedelta(0)) > 0
            await asyncio.sleep(2.5)
            async with committed() as session:  # the stalled write is gone
                assert await posts_repo.feed_hold_back(session, timedelta(0)) < 0.5
            with pytest.raises(DBAPIError):
                await connection.execute(text("SELECT 1"))
    finally:
        await stalled.dispose()


async def _feed(sm: SM, org: uuid.UUID, cursor: str | None) -> tuple[list[uuid.UUID], str | None]:
    query = PostListQuery(sort=PostSort.UPDATED_AT, cursor=cursor, limit=10)
    async with sm() as session:
        rows, next_cursor = await post_repo.list_page(session, org, None, query)
    return [r.id for r in rows], next_cursor


async def test_the_change_feed_never_passes_a_write_that_is_still_open(
    committed: SM, engine: AsyncEngine
) -> None:
    """A write that started first but commits last carries the earlier updated_at: a feed
    that had moved past it would never show it. The feed stops before any open write."""
    now = datetime.now(UTC)
    s = await seed(committed, [(Platform.TIKTOK, "1"), (Platform.TIKTOK, "2")], now)
    a, b = s.posts["1"], s.posts["2"]
    seen, cursor = await _feed(committed, s.organization_id, None)
    assert set(seen) == {a, b}
    assert cursor is not None  # the feed's last page has a cursor to poll with

    async with engine.connect() as slow:
        transaction = await slow.begin()
        await slow.execute(update(Post).where(Post.id == a).values(views=10))
        async with committed() as session:  # a later write commits first
            await session.execute(update(Post).where(Post.id == b).values(views=20))
            await session.commit()
        seen, still = await _feed(committed, s.organization_id, cursor)
        assert (seen, still) == ([], cursor)  # b waits behind the open write to a
        await transaction.commit()

    seen, cursor = await _feed(committed, s.organization_id, cursor)
    assert seen == [a, b]  # each change once, in the order of updated_at
    assert (await _feed(committed, s.organization_id, cursor))[0] == []


async def test_the_change_feed_through_the_api(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    await f.post(client, s["campaign"]["id"], url=video(1))
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    answer = await client.get("/v1/posts", params={"sort": "updated_at", "updated_since": since})
    assert answer.status_code == 200
    # Within this test's transaction nothing is committed yet: nothing is settled either.
    assert answer.json()["data"] == []
