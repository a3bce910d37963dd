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
    s = await f.setup_campaign(client)
    await f.post(client, s["campaign"]["id"], url="https://www.tiktok.com/@scout2015/video/1")
    answer = await client.get("/v1/posts", params={"status": "tracking", "limit": 2})
    assert len(answer.json()["data"]) == 1
    rows = await session.execute(text("SELECT statement FROM pg_prepared_statements"))
    lists = [s for (s,) in rows if "FROM posts" in s and "posts.status IN" in s]
    assert lists
    assert all(re.search(r"LIMIT 3\b", s) for s in lists), lists
