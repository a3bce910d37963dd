"""What waits for a person, oldest first: open holds, open flags, `pending_cpm` posts,
posts the platform keeps refusing, and bulk import lines that failed. Each kind is read
up to a cap through an index that starts at the organization (migration 0022), and counted
up to a bound, so the inbox costs the same at any size. `only`: the campaigns the caller
may read (None: all of the organization's)."""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    BindParameter,
    DateTime,
    Select,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import attention
from app.domain.enums import Platform, PostStatus
from app.models import (
    Campaign,
    Creator,
    Post,
    PostFlag,
    PostHold,
    PostImport,
    PostImportLine,
)
from app.repositories import tiers as tier_repo
from app.repositories import written

# Any statement of this module (its columns vary by kind).
Q = Select[*tuple[Any, ...]]
# The statements' parameters (each statement is made once, see _statements).
Org = BindParameter[uuid.UUID]
Only = BindParameter[list[uuid.UUID]] | None
Now = BindParameter[datetime]

# Counted up to this many per kind; past it the inbox says "1,000+".
COUNT_BOUND = 1000


# What an item shows, read as columns on the driver (app.repositories.written) into named
# rows: loading whole posts, campaigns and holds cost more than their queries did (~1.5 ms
# per 50 items), and SQLAlchemy's execution and result rows ~0.3 ms more a kind.
POST = (
    Post.id,
    Post.platform,
    Post.url,
    Post.status,
    Post.views,
    Post.locked_views,
    Post.locked_observed_at,
    Post.last_error_code,
    Post.last_error,
    Post.last_error_at,
    Post.consecutive_failures,
)
CAMPAIGN = (Campaign.id, Campaign.name, Campaign.currency)
HOLD = (PostHold.code, PostHold.reason, PostHold.evidence, PostHold.raised_at)
FLAG = (PostFlag.code, PostFlag.reason, PostFlag.evidence, PostFlag.raised_at)
LINE = (
    PostImportLine.line,
    PostImportLine.url,
    PostImportLine.outcome,
    PostImportLine.detail,
    PostImportLine.handled_at,
)


class ShownPost(NamedTuple):  # POST's columns
    id: uuid.UUID
    platform: Platform
    url: str
    status: PostStatus
    views: int
    locked_views: int | None
    locked_observed_at: datetime | None
    last_error_code: str | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int


class ShownCampaign(NamedTuple):  # CAMPAIGN's
    id: uuid.UUID
    name: str
    currency: str


class ShownMark(NamedTuple):  # a hold's or a flag's (HOLD, FLAG)
    code: str
    reason: str
    evidence: dict[str, Any]
    raised_at: datetime


class ShownLine(NamedTuple):  # an import line's (LINE)
    line: int
    url: str
    outcome: str | None
    detail: str | None
    handled_at: datetime | None


@dataclass(frozen=True)
class Item:
    """One thing waiting: its post (None for an import line), who and where, and the hold,
    flag or import line it is about (None for a pending_cpm or refused post)."""

    post: ShownPost | None
    handle: str
    campaign: ShownCampaign
    mark: ShownMark | ShownLine | None = None


# A post kind's record: POST, the handle, CAMPAIGN, its mark (NULLs for a kind without),
# then the key of its kind's order and the kind's place in KINDS (see _post_kinds).
_CAMPAIGN_AT = len(POST) + 1
_MARK_AT = _CAMPAIGN_AT + len(CAMPAIGN)
_KEY_AT = _MARK_AT + len(HOLD)


def _post_item(r: Any) -> Item:
    """A post kind's record as its item (the driver's values as the mapped columns read)."""
    post = ShownPost(r[0], Platform(r[1]), r[2], PostStatus(r[3]), *r[4 : len(POST)])
    campaign = ShownCampaign(*r[_CAMPAIGN_AT:_MARK_AT])
    mark = ShownMark(*r[_MARK_AT:_KEY_AT]) if r[_MARK_AT] is not None else None
    return Item(post, r[len(POST)], campaign, mark)


def _line_item(r: Any) -> Item:
    return Item(None, "", ShownCampaign(*r[len(LINE) :]), ShownLine(*r[: len(LINE)]))


@dataclass(frozen=True)
class Kind:
    items: list[Item]
    count: int  # up to COUNT_BOUND + 1

    @property
    def more(self) -> int:
        return max(self.count - len(self.items), 0)


def _scoped(stmt: Q, org: Org, only: Only) -> Q:
    stmt = stmt.where(Post.organization_id == org)
    return stmt if only is None else stmt.where(Post.campaign_id == any_(only))


def _posts(org: Org, only: Only, *where: Any) -> Q:
    """A kind's posts: what decides which posts wait, and nothing more (its count reads
    this; `_shown` adds what an item shows)."""
    stmt: Q = select(Post.id).where(*where)
    return _scoped(stmt, org, only)


def _shown(stmt: Q, *mark: Any) -> Q:
    """A kind's posts as its items show them: the post, its creator's handle, its campaign
    (and the hold or flag). The joins only add columns: every post has its creator and its
    campaign (foreign keys, not null), so the counts leave them out; counting the 1,000
    `pending_cpm` posts of the bound through them took ~3 ms of every page's navigation."""
    return (
        stmt.with_only_columns(*POST, Creator.handle, *CAMPAIGN, *mark)
        .join(Creator, Creator.id == Post.creator_id)
        .join(Campaign, Campaign.id == Post.campaign_id)
    )


def _bounded(stmt: Q, column: Any) -> Any:
    """How many rows `stmt` finds, counted up to the bound (a scalar subquery)."""
    bounded = stmt.with_only_columns(column).limit(COUNT_BOUND + 1).subquery()
    return select(func.count()).select_from(bounded).scalar_subquery()


@dataclass(frozen=True)
class _Statements:
    # Each post kind's oldest `cap` items with their order's key, as KINDS; the lines'.
    posts: tuple[Callable[[int], Q], ...]
    lines: Callable[[int], Q]
    counts: written.Written  # each kind's count up to the bound, in KINDS' order, in one


@cache
def _statements(scoped: bool) -> _Statements:
    """The inbox's statements, made once per shape (scoped to some campaigns or not) with
    their values as parameters (`_values`) and written out for the driver: every page's
    navigation counts, and building a statement cost more than running it."""
    # Each given a value (None) only so the statements can be written out before any is known.
    org: Org = bindparam("org", None, type_=Uuid())
    now: Now = bindparam("now", None, type_=DateTime(timezone=True))
    uuids: ARRAY[uuid.UUID] = ARRAY(Uuid())
    only: Only = bindparam("only", None, type_=uuids) if scoped else None  # type: ignore[arg-type]
    posts = (
        (_open_marks(PostHold, org, only), PostHold.id, HOLD),
        (_open_marks(PostFlag, org, only), PostFlag.id, FLAG),
        (_pending_cpm(org, only), Post.id, ()),
        (_refused(org, only), Post.id, ()),
    )
    lines = _failed_lines(org, only, now)
    items = [_capped(_shown(stmt, *mark), order) for stmt, order, mark in posts]
    counted: list[tuple[Q, Any]] = [(stmt, Post.id) for stmt, _, _ in posts]
    if only is None:
        # A viewer of every campaign reads and counts the holds and flags through their
        # partial indexes (each carries its post's organization) before any post: joined to
        # their posts, the count cost ~770 index pages a page at 127 of each. A restricted
        # viewer's needs the posts' campaigns.
        items[:2] = [
            _oldest_marks(m, org, shown) for m, shown in ((PostHold, HOLD), (PostFlag, FLAG))
        ]
        counted[:2] = [(select(m.id).where(*_open(m, org)), m.id) for m in (PostHold, PostFlag)]
    counts = [*(_bounded(s, c) for s, c in counted), _bounded(lines, PostImportLine.line)]
    oldest_lines = lines.order_by(PostImportLine.import_id, PostImportLine.line)
    return _Statements(
        tuple(items), lambda cap: oldest_lines.limit(cap), written.write_out(select(*counts))
    )


def _capped(stmt: Q, order: Any) -> Callable[[int], Q]:
    """A post kind's items in `order`, the oldest `cap` of them, `order` also as a column
    (the tagged statement orders by it once more, see _post_kinds); a kind without a mark
    shows NULLs in its place."""
    if len(stmt.selected_columns) == _MARK_AT:
        stmt = stmt.add_columns(*(cast(null(), c.type) for c in HOLD))
    ordered = stmt.add_columns(_key(order)).order_by(order)
    return lambda cap: ordered.limit(cap)


def _key(order: Any) -> Any:
    """A kind's order as text that sorts the same (the tagged statement orders the kinds'
    rows by it once more, and its one column must have one type): a mark's bigint id
    zero-padded, a post's UUID as PostgreSQL writes it (lower-case hex: its text sorts as its
    bytes)."""
    text = (
        cast(order, Text) if isinstance(order.type, Uuid) else func.lpad(cast(order, Text), 20, "0")
    )
    # Compared byte by byte (collation "C"): another collation may order hex text otherwise.
    return text.collate("C").label("key")


def _oldest_marks(mark: Any, org: Org, shown: tuple[Any, ...]) -> Callable[[int], Q]:
    """A viewer of every campaign's holds or flags: the oldest `cap` marks, then their posts.
    Joined first and cut after, PostgreSQL read every open mark's post, creator and campaign
    to keep the oldest (at the benchmark's 127 holds an organization: 1,277 buffers, 1 ms,
    for 26 items). A restricted viewer's marks are cut after the join: it drops the marks of
    other campaigns' posts."""

    def capped(cap: int) -> Q:
        # Core columns, not an ORM alias: `written` rewrites the statement, and an alias's
        # annotated columns came out naming a second copy of the subquery (a cross join).
        oldest = (
            select(mark.id, mark.post_id, *shown)
            .where(*_open(mark, org))
            .order_by(mark.id)
            .limit(cap)
            .subquery("oldest")
        )
        posts = _posts(org, None).join(oldest, oldest.c.post_id == Post.id)
        return _shown(posts, *list(oldest.c)[2:], _key(oldest.c.id)).order_by(oldest.c.id)

    return capped


@lru_cache(maxsize=64)
def _post_kinds(scoped: bool, caps: tuple[int, ...]) -> written.Written:
    """The post kinds' oldest items (each kind's `cap` of them; a kind whose cap is 0 is left
    out) in one statement: a round trip and a statement's overhead in PostgreSQL for all of
    them, not one a kind. Each row carries its kind's place in KINDS. The caps are written
    into the SQL (the pages ask for two): as parameters, PostgreSQL planned the statement
    anew on every page, 0.5-3 ms each time (see app.repositories.written)."""
    branches = [
        items(cap).add_columns(literal(kind).label("kind"))
        for kind, (items, cap) in enumerate(zip(_statements(scoped).posts, caps, strict=True))
        if cap
    ]
    if len(branches) == 1:  # ordered already (a union of one would order it twice)
        return written.write_out(branches[0])
    tagged = union_all(*branches).order_by(literal_column("kind"), literal_column("key"))
    return written.write_out(tagged)


@lru_cache(maxsize=16)
def _lines(scoped: bool, cap: int) -> written.Written:
    """The failed import lines' oldest `cap`, written out as _post_kinds' are."""
    return written.write_out(_statements(scoped).lines(cap))


def _values(org: uuid.UUID, only: frozenset[uuid.UUID] | None, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"org": org, "now": now}
    if only is not None:
        values["only"] = sorted(only)
    return values


async def _counts(
    session: AsyncSession, org: uuid.UUID, only: frozenset[uuid.UUID] | None, now: datetime
) -> tuple[int, ...]:
    counts = _statements(only is not None).counts
    (row,) = await written.fetch(session, counts, _values(org, only, now))
    return tuple(int(n) for n in row)


def _open(mark: Any, org: Org) -> tuple[Any, Any]:
    """What makes a hold or a flag wait: the organization's, and neither cleared nor
    resolved."""
    closed_at = mark.cleared_at if mark is PostHold else mark.resolved_at
    return mark.organization_id == org, closed_at.is_(None)


def _open_marks(mark: Any, org: Org, only: Only) -> Q:
    """The posts of the organization's open holds or flags (`mark`), one row a mark."""
    return _posts(org, only, *_open(mark, org)).join(mark, mark.post_id == Post.id)


def _pending_cpm(org: Org, only: Only) -> Q:
    return _posts(org, only, Post.status == PostStatus.PENDING_CPM)


def _refused(org: Org, only: Only) -> Q:
    """Posts whose last fetch the platform refused; a rejected post is not fetched again,
    so it waits for no one."""
    return _posts(
        org,
        only,
        Post.last_error_code.in_(attention.REFUSALS),
        Post.status != PostStatus.REJECTED,
    )


def _failed_lines(org: Org, only: Only, now: Now) -> Q:
    """Lines not added, of the imports of the last few days (attention.FAILED_LINES_FOR)."""
    stmt: Q = (
        select(*LINE, *CAMPAIGN)
        .join(PostImport, PostImport.id == PostImportLine.import_id)
        .join(Campaign, Campaign.id == PostImport.campaign_id)
        .where(
            PostImport.organization_id == org,
            PostImport.created_at > now - attention.FAILED_LINES_FOR,
            PostImportLine.outcome.is_not(None),
            PostImportLine.outcome.not_in(attention.IMPORT_SETTLED),
        )
    )
    return stmt if only is None else stmt.where(PostImport.campaign_id == any_(only))


@dataclass(frozen=True)
class Inbox:
    holds: Kind
    flags: Kind
    pending_cpm: Kind
    refused: Kind
    failed_lines: Kind
    # The tiers of the campaigns of the pending_cpm posts shown, by campaign, by name.
    tiers: dict[uuid.UUID, list[tier_repo.Choice]]

    @property
    def total(self) -> int:
        return sum(k.count for k in self.kinds())

    def kinds(self) -> tuple[Kind, ...]:
        return (self.holds, self.flags, self.pending_cpm, self.refused, self.failed_lines)


# The kinds by name, in the order of Inbox.kinds.
KINDS = ("holds", "flags", "pending_cpm", "refused", "failed_lines")


async def read(
    session: AsyncSession,
    org: uuid.UUID,
    only: frozenset[uuid.UUID] | None,
    now: datetime,
    cap: int,
    caps: Mapping[str, int] | None = None,
) -> Inbox:
    """Each kind's oldest `cap` items (`caps`: another cap for some kinds, by name), and
    how many there are (up to the bound). A kind counted empty is not read."""
    counts = await _counts(session, org, only, now)
    values = _values(org, only, now)
    scoped = only is not None
    # Each kind's cap; 0 for a kind counted empty, which is not read.
    caps = caps or {}
    wanted = [caps.get(name, cap) if n else 0 for name, n in zip(KINDS, counts, strict=True)]
    *posts_wanted, lines_wanted = wanted
    found: list[list[Item]] = [[] for _ in KINDS]
    if any(posts_wanted):
        for r in await written.fetch(session, _post_kinds(scoped, tuple(posts_wanted)), values):
            found[r[-1]].append(_post_item(r))
    if lines_wanted:
        rows = await written.fetch(session, _lines(scoped, lines_wanted), values)
        found[-1] = [_line_item(r) for r in rows]
    holds, flags, pending, refused, lines = (
        Kind(items, n) for items, n in zip(found, counts, strict=True)
    )
    campaigns = {item.campaign.id for item in pending.items}
    tiers: dict[uuid.UUID, list[tier_repo.Choice]] = {c: [] for c in campaigns}
    for tier in await tier_repo.choices(session, campaigns):
        tiers[tier.campaign_id].append(tier)
    return Inbox(holds, flags, pending, refused, lines, tiers)


async def count(
    session: AsyncSession, org: uuid.UUID, only: frozenset[uuid.UUID] | None, now: datetime
) -> int:
    """How many things wait (each kind counted up to the bound): the navigation's number."""
    return sum(await _counts(session, org, only, now))
