"""Posts as the API shows them (PostOut, with their open holds): the routers' answers and the
webhooks' `data` are built here, so both show the same thing."""

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Post, PostEvent
from app.repositories import holds, posts, users
from app.schemas.posts import EventActor, EventOut, HoldOut, PostListQuery, PostOut

_POSTS = TypeAdapter(list[PostOut])
_HOLDS = TypeAdapter(list[HoldOut])
# PostOut's fields in its order (the JSON's), each read from its column; `holds` from the
# count of open holds (replaced by the holds themselves).
ANSWER_COLUMNS = tuple(
    (name, "open_holds" if name == "holds" else name) for name in PostOut.model_fields
)
_CENT = Decimal("0.01")
_NO_HOLDS = orjson.Fragment(b"[]")


async def present(session: AsyncSession, rows: Sequence[Any]) -> list[PostOut]:
    """Posts (entities or plain rows of every column) with their open holds: one query for
    the holds of the whole list."""
    open_holds = await holds.open_for(session, [r.id for r in rows if r.open_holds])
    if rows and isinstance(rows[0], Row):
        # A plain dict of the row's columns validates in a quarter of the time of the row
        # itself (each field PostOut does not find on a Row raises inside SQLAlchemy first),
        # and a page of 50 posts is the list endpoints' largest cost. The rows of one result
        # share their columns (Row._fields is rebuilt on every call), and the page is
        # validated in one call: a fifth less than a call per post (issue 24).
        columns = rows[0]._fields
        return _POSTS.validate_python(
            [
                {
                    **dict(zip(columns, row, strict=True)),
                    "holds": [HoldOut.model_validate(h) for h in open_holds.get(row.id, ())],
                }
                for row in rows
            ]
        )
    out = []
    for row in rows:
        post = PostOut.model_validate(row)
        post.holds = [HoldOut.model_validate(h) for h in open_holds.get(row.id, ())]
        out.append(post)
    return out


async def plain_page_json(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, query: PostListQuery
) -> tuple[bytes, bool] | None:
    """posts.plain_page as a PostPage's JSON (and whether the page has posts), or None when
    the query is not plain: byte for byte what FastAPI writes for the PostPage `present`
    makes of list_page's rows (a test compares them), without a model per post: validating
    and dumping 50 PostOut models was a third of a list request's CPU (issue 24). orjson
    writes UTC times as pydantic does (`Z`) and the enum columns are their text already;
    earnings get the money format (Earnings), holds their model."""
    page = await posts.plain_page(session, org, campaign_id, query, ANSWER_COLUMNS)
    if page is None:
        return None
    rows, next_cursor = page
    open_holds = await holds.open_for(session, [uuid.UUID(r["id"]) for r in rows if r["holds"]])
    data = []
    for row in rows:
        post = dict(row)
        earnings = post["earnings"]
        if earnings is not None:
            post["earnings"] = format(earnings.quantize(_CENT), "f")
        found = open_holds.get(uuid.UUID(post["id"])) if post["holds"] else None
        post["holds"] = (
            _NO_HOLDS
            if not found
            else orjson.Fragment(_HOLDS.dump_json([HoldOut.model_validate(h) for h in found]))
        )
        data.append(post)
    body = orjson.dumps({"data": data, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)
    return body, bool(rows)


async def present_ids(
    session: AsyncSession, post_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PostOut]:
    rows = (await session.execute(posts.ALL_COLUMNS.where(Post.id.in_(post_ids)))).all()
    return {post.id: post for post in await present(session, rows)}


async def present_events(session: AsyncSession, events: Sequence[PostEvent]) -> list[EventOut]:
    """Post events with the user who acted, where a signed-in person did (they act through
    their own key row, which the event records): one query for the whole list."""
    people = await users.by_key(session, [e.actor_key_id for e in events if e.actor_key_id])
    out = []
    for event in events:
        person = people.get(event.actor_key_id) if event.actor_key_id else None
        actor = None if person is None else EventActor.model_validate(person)
        fields = {n: getattr(event, n) for n in EventOut.model_fields if n != "actor_user"}
        out.append(EventOut.model_validate({**fields, "actor_user": actor}))
    return out
