import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Row, Uuid, func, literal_column, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform, PostStatus
from app.domain.errors import InvalidCursor
from app.domain.integrity import FlagCode
from app.models import Creator, Post, PostEvent, PostHold
from app.repositories import written
from app.repositories.common import get_owned
from app.repositories.creators import handle_starts_with
from app.repositories.pagination import (
    Sort,
    by_int,
    by_time,
    decode_cursor,
    digest,
    encode_cursor,
    fetch_page,
)


class SortKey(Protocol):
    """A sort by `key` (one of SORTS), ascending or descending."""

    @property
    def key(self) -> str: ...
    @property
    def descending(self) -> bool: ...


class PostFilter(Protocol):
    """What a post list asks for: the API's query parameters satisfy it as they are."""

    @property
    def status(self) -> Sequence[PostStatus]: ...
    @property
    def platform(self) -> Platform | None: ...
    @property
    def creator_id(self) -> uuid.UUID | None: ...
    @property
    def hold(self) -> str | None: ...
    @property
    def flag(self) -> FlagCode | None: ...
    @property
    def has_hold(self) -> bool | None: ...
    @property
    def has_flag(self) -> bool | None: ...
    @property
    def q(self) -> str | None: ...
    @property
    def q_platform_post_id(self) -> str | None: ...
    @property
    def published_from(self) -> datetime | None: ...
    @property
    def published_to(self) -> datetime | None: ...
    @property
    def updated_since(self) -> datetime | None: ...
    @property
    def sort(self) -> SortKey: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def limit(self) -> int: ...


FEED = "updated_at"  # the sort key of the change feed

SORTS = {
    "created_at": lambda desc: Sort(None, desc),
    "published_at": lambda desc: by_time(Post.aged_from, desc),
    "views": lambda desc: by_int(Post.views, desc),
    "updated_at": lambda desc: by_time(Post.updated_at, desc),
}

# The oldest start of a transaction that has written and not finished yet (in this
# database): its rows carry updated_at = its start (now() is the transaction's clock) and
# become visible only when it commits, so the feed must not pass that time yet. Only client
# sessions of this database holding a transaction id count (a reader, another database's
# writer, autovacuum's analyze cannot write posts). The service's own sessions end an idle
# transaction after DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS; anyone else's open write (a psql
# session) holds the feed back until it ends: feed_hold_back shows by how much.
# (pg_stat_activity shows xact_start of the sessions of the same role, which the API's
# and the workers' are; with several roles, grant the API's pg_read_all_stats.)
_OLDEST_OPEN_WRITE: ColumnElement[Any] = literal_column(
    "(SELECT min(xact_start) FROM pg_stat_activity"
    " WHERE datname = current_database() AND backend_type = 'client backend'"
    " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid())"
)


def feed_horizon(settle: timedelta) -> ColumnElement[Any]:
    """Where the change feed stops: `settle` before now, and before any write still open.
    Every change before it is committed, so a page never skips one that commits later."""
    return func.least(func.now() - settle, _OLDEST_OPEN_WRITE)


async def feed_hold_back(session: AsyncSession, settle: timedelta) -> float:
    """How many seconds the change feed's horizon is behind now: `settle`, or more while a
    write is open. pg_stat_activity is read once per transaction, so in the transaction of
    a feed page this is the horizon that page stopped at."""
    behind = func.extract("epoch", func.now() - feed_horizon(settle))
    return float(await session.scalar(select(behind)) or 0)


async def get(
    session: AsyncSession, org: uuid.UUID, post_id: uuid.UUID, *, for_update: bool = False
) -> Post | None:
    return await get_owned(session, Post, org, post_id, for_update=for_update)


# Every column of a post, as plain rows. Built once: a statement is immutable (each `.where`
# returns a new one), and coercing its 33 columns again on every list request was about 30 µs
# of the request's CPU, the same again in its cache key (issue 24). Same SQL, same digests.
ALL_COLUMNS = select(*Post.__table__.c)
# The same with each post's creator's handle, for a reader that shows it (the dashboard's
# table): one index lookup a row, where a statement of its own for the page's handles cost a
# round trip and its building.
WITH_HANDLE = select(
    *Post.__table__.c,
    select(Creator.handle).where(Creator.id == Post.creator_id).scalar_subquery().label("handle"),
)


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID | None,
    query: PostFilter,
    feed_settle: timedelta = timedelta(0),
    *,
    only: frozenset[uuid.UUID] | None = None,
    handles: bool = False,
) -> tuple[Sequence[Row[Any]], str | None]:
    """A page of posts as plain rows (every column of the table, and the creator's `handle`
    if `handles`): the API's hottest read. Sorted by `updated_at`, it is the change feed:
    only changes before `feed_horizon`. `only`: these campaigns' posts (a restricted
    caller's), else all of the organization's."""
    stmt = (WITH_HANDLE if handles else ALL_COLUMNS).where(Post.organization_id == org)
    if only is not None:
        stmt = stmt.where(Post.campaign_id.in_(sorted(only)))
    if campaign_id is not None:
        stmt = stmt.where(Post.campaign_id == campaign_id)
    if query.status:
        stmt = stmt.where(Post.status.in_(query.status))
    if query.platform is not None:
        stmt = stmt.where(Post.platform == query.platform)
    if query.creator_id is not None:
        stmt = stmt.where(Post.creator_id == query.creator_id)
    if query.hold is not None:
        stmt = stmt.where(
            select(PostHold.id)
            .where(
                PostHold.organization_id == org,
                PostHold.code == query.hold,
                PostHold.post_id == Post.id,
                PostHold.cleared_at.is_(None),
            )
            .exists()
        )
    if query.flag is not None:
        stmt = stmt.where(Post.flags.any_() == query.flag.value)
    if query.has_hold is not None:
        stmt = stmt.where(Post.open_holds > 0 if query.has_hold else Post.open_holds == 0)
    if query.has_flag is not None:
        has = func.cardinality(Post.flags) > 0
        stmt = stmt.where(has if query.has_flag else ~has)
    if query.q is not None:
        stmt = stmt.where(_search(org, query.q, query.q_platform_post_id))
    if query.published_from is not None:
        stmt = stmt.where(Post.aged_from >= query.published_from)
    if query.published_to is not None:
        stmt = stmt.where(Post.aged_from < query.published_to)
    if query.updated_since is not None:
        stmt = stmt.where(Post.updated_at >= query.updated_since)
    feed = query.sort.key == FEED
    if feed:
        stmt = stmt.where(Post.updated_at < feed_horizon(feed_settle))
    sort = SORTS[query.sort.key](query.sort.descending)
    return await fetch_page(session, stmt, Post.id, sort, query.cursor, query.limit, resumable=feed)


# The hot list's plain case: one campaign's posts, newest first, no filter (what a client
# that pages through a campaign asks, and every first page without parameters). Written out
# once and run on the driver's connection: building the statement, its cache key and
# SQLAlchemy's result rows cost more CPU than the query itself (issue 24). Same rows, same
# order and same cursors as list_page, which the tests compare page for page.
_PLAIN_WHERE = "FROM posts WHERE organization_id = $1 AND campaign_id = $2"
_plain_sql: dict[tuple[tuple[tuple[str, str], ...], bool], tuple[str, str]] = {}
# A row's creator's handle, for a reader that shows it (one index lookup a row, where a
# second statement for the page's handles cost a round trip and its building).
_HANDLE = "(SELECT handle FROM creators WHERE creators.id = posts.creator_id) AS handle"
_plain_statement: tuple[str, str, str] | None = None
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _plain_select(columns: tuple[tuple[str, str], ...], handles: bool) -> tuple[str, str]:
    """The first page's and a later page's SQL selecting `columns` ((name, column) pairs, in
    that order), and the creator's `handle` if `handles`. Ids are read as their text: what an
    answer shows."""
    found = _plain_sql.get((columns, handles))
    if found is None:
        table = Post.__table__.c
        selected = ", ".join(
            [
                f"{column}::text AS {name}"
                if isinstance(table[column].type, Uuid)
                else f"{column} AS {name}"
                for name, column in columns
            ]
            + ([_HANDLE] if handles else [])
        )
        plain = f"SELECT {selected} {_PLAIN_WHERE}"
        # `posts.id`, the column: a bare `id` in ORDER BY is the text the list selects, which
        # PostgreSQL can only sort after reading every post of the campaign.
        found = _plain_sql[columns, handles] = (
            plain + " ORDER BY posts.id DESC LIMIT $3",
            plain + " AND posts.id < $3 ORDER BY posts.id DESC LIMIT $4",
        )
    return found


def _plain_digest(org: uuid.UUID, campaign_id: uuid.UUID) -> str:
    """What list_page binds the plain list's cursors to (pagination.statement_digest of its
    statement): its SQL, compiled once, with these values under the names it gives them."""
    global _plain_statement
    if _plain_statement is None:
        org_marker, campaign_marker = uuid.uuid4(), uuid.uuid4()
        stmt = (
            ALL_COLUMNS.where(Post.organization_id == org_marker)
            .where(Post.campaign_id == campaign_marker)
            .order_by(Post.id.desc())
        )
        compiled = stmt.compile(dialect=_DIALECT)
        names = {value: name for name, value in compiled.params.items()}
        _plain_statement = (str(compiled), names[org_marker], names[campaign_marker])
    sql, org_name, campaign_name = _plain_statement
    return digest(sql, sorted({org_name: org, campaign_name: campaign_id}.items()))


def is_plain(query: PostFilter) -> bool:
    return (
        query.sort.key == "created_at"
        and query.sort.descending
        and not query.status
        and query.platform is None
        and query.creator_id is None
        and query.hold is None
        and query.flag is None
        and query.has_hold is None
        and query.has_flag is None
        and query.q is None
        and query.published_from is None
        and query.published_to is None
        and query.updated_since is None
    )


async def plain_page(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    query: PostFilter,
    columns: tuple[tuple[str, str], ...],
    *,
    handles: bool = False,
) -> tuple[Sequence[Any], str | None] | None:
    """list_page's page of one campaign's posts when the query is plain (`is_plain`), else
    None: the driver's records (mappings) of `columns`, (name, column of posts) pairs, which
    must include ("id", "id"), and the creator's `handle` if `handles`; ids as text."""
    if not is_plain(query):
        return None
    bound_to = _plain_digest(org, campaign_id)
    first, after = _plain_select(columns, handles)
    if query.cursor is None:
        rows = await written.fetch_sql(session, first, org, campaign_id, query.limit + 1)
    else:
        (position,) = decode_cursor(query.cursor, 1, bound_to)
        try:
            after_id = uuid.UUID(str(position))
        except (TypeError, ValueError):
            raise InvalidCursor from None
        rows = await written.fetch_sql(session, after, org, campaign_id, after_id, query.limit + 1)
    if len(rows) <= query.limit:
        return rows, None
    rows = rows[: query.limit]
    return rows, encode_cursor([rows[-1]["id"]], bound_to)


def _search(org: uuid.UUID, text: str, video_id: str | None) -> ColumnElement[bool]:
    """A search box's text: the start of a creator's handle (any case, `@` optional), a
    post's id (ours or the platform's), or the video a URL names (`video_id`). Each branch
    is an equality or a prefix, so none reads every post's URL."""
    creators = select(Creator.id).where(Creator.organization_id == org, handle_starts_with(text))
    branches = [Post.creator_id.in_(creators), Post.platform_post_id == text]
    if video_id is not None:
        branches.append(Post.platform_post_id == video_id)
    with contextlib.suppress(ValueError):
        branches.append(Post.id == uuid.UUID(text))
    return or_(*branches)


async def last_rejected_from(session: AsyncSession, post_id: uuid.UUID) -> PostStatus | None:
    stmt = (
        select(PostEvent.from_status)
        .where(PostEvent.post_id == post_id, PostEvent.to_status == PostStatus.REJECTED)
        .order_by(PostEvent.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def last_evidence(session: AsyncSession, post_id: uuid.UUID) -> dict[str, Any] | None:
    """The evidence of the post's latest decision (a status change that stored one)."""
    stmt = (
        select(PostEvent.evidence)
        .where(
            PostEvent.post_id == post_id,
            PostEvent.evidence.is_not(None),
            PostEvent.from_status.is_distinct_from(PostEvent.to_status),
        )
        .order_by(PostEvent.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def by_platform_id(
    session: AsyncSession, org: uuid.UUID, platform: Platform, platform_post_id: str
) -> Post | None:
    """The organization's post of this video (its original, if duplicates were kept)."""
    stmt = select(Post).where(
        Post.organization_id == org,
        Post.platform == platform,
        Post.platform_post_id == platform_post_id,
        Post.duplicate_of.is_(None),
    )
    return (await session.scalars(stmt)).first()


async def all_events(session: AsyncSession, post_id: uuid.UUID) -> Sequence[PostEvent]:
    """Oldest first. A post has few: its decisions, notes and people's actions."""
    return (
        await session.scalars(
            select(PostEvent).where(PostEvent.post_id == post_id).order_by(PostEvent.id)
        )
    ).all()


async def events(
    session: AsyncSession, post_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[PostEvent], str | None]:
    """Oldest first."""
    stmt = select(PostEvent).where(PostEvent.post_id == post_id)
    return await fetch_page(
        session, stmt, PostEvent.id, Sort(None, False), cursor, limit, parse_id=int
    )
