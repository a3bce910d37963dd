"""What a statement fixes itself (a page's size, a status, a bound) is written into its SQL;
only what each request brings is a parameter. PostgreSQL keeps one generic plan for a
prepared statement unless that plan looks dearer than one made for the values, and a fixed
value sent as a parameter made it look so (`LIMIT $n` is costed as a tenth of the rows,
`status = $2` as any status): the hot lists and the inbox's counts were planned anew on
every request, more of PostgreSQL's time than running them took (issue 26;
bench/RESULTS.md has the plans counted at 1,000,000 posts)."""

import re

import httpx
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.models import Post
from app.repositories import inbox, written
from tests import factories as f


def test_a_written_out_statement_carries_its_own_values_in_its_sql() -> None:
    org = bindparam("org", None, type_=Uuid())
    stmt = (
        select(Post.id)
        .where(Post.organization_id == org, Post.status == PostStatus.PENDING_CPM)
        .where(Post.last_error_code.in_(["private", "not_found"]))
        .limit(11)
    )
    out = written.write_out(stmt)
    assert out.names == ("org",)
    assert "posts.status = 'pending_cpm'" in out.sql
    assert "IN ('private', 'not_found')" in out.sql
    assert re.search(r"LIMIT 11\b", out.sql)
    # The inbox's counts: the organization and the time are all each page sends.
    assert inbox._statements(False).counts.names == ("org", "now")
    assert inbox._statements(True).counts.names == ("org", "only", "now")


async def test_a_list_s_page_size_is_in_its_sql(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """One of a few sizes, whatever size the caller asks for: a page of 2 reads up to 11
    rows (one past the page tells there is a next)."""
    setup = await f.setup_campaign(client)
    for n in range(3):
        url = f"https://www.tiktok.com/@scout2015/video/{n + 1}"
        await f.post(client, setup["campaign"]["id"], url=url)
    for limit in (2, 3):
        answer = await client.get("/v1/posts", params={"status": "tracking", "limit": limit})
        assert len(answer.json()["data"]) == limit
        assert (answer.json()["next_cursor"] is None) == (limit == 3)
    rows = await session.execute(text("SELECT statement FROM pg_prepared_statements"))
    # The list's statements (the connection may carry other tests' too, an engine's claim
    # among them, which reads posts by status as well).
    lists = [sql for (sql,) in rows if "posts.status IN" in sql and "ORDER BY posts.id" in sql]
    assert len(lists) == 1
    assert re.search(r"LIMIT 11\b", lists[0]), lists
