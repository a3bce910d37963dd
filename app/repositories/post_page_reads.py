"""What a post's page reads beside the API's evidence (app.services.evidence), in one round
trip: the post's campaign, its creator's handle and its tier (campaigns.SHOWN) with the first
page of its stats series (analytics.SERIES, the statement `GET /v1/posts/{id}/stats` reads).
Each statement keeps its one home; this joins them, so the page sends one statement where it
sent two (a round trip is ~5% of the page's CPU, issue 26)."""

import re
import uuid
from datetime import datetime
from typing import Literal, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import analytics, campaigns, written

_PARAMETER = re.compile(r"\$(\d+)")


def _after(sql: str, first: str) -> str:
    """`sql` with its parameters numbered after all of `first`'s."""
    last = max(int(n) for n in _PARAMETER.findall(first))
    return _PARAMETER.sub(lambda m: f"${int(m[1]) + last}", sql)


_BOTH = f"""
    WITH shown AS ({campaigns.SHOWN.sql})
    SELECT shown.*, series.*
    FROM shown LEFT JOIN ({_after(analytics.SERIES, campaigns.SHOWN.sql)}) series ON true
    ORDER BY series.at
"""


class Read(NamedTuple):
    shown: campaigns.Shown
    points: list[analytics.Bucket]
    complete: bool  # False: more buckets than asked for (read them with post_series)


async def read(
    session: AsyncSession,
    org: uuid.UUID,
    post_id: uuid.UUID,
    shown: tuple[uuid.UUID, uuid.UUID, uuid.UUID | None],
    bucket: Literal["hour", "day"],
    window: tuple[datetime, datetime],
    limit: int,
) -> Read | None:
    """`shown`: the post's campaign, creator and tier; the series' first `limit` buckets
    within `window`, as post_series reads them. None when the campaign is not the
    organization's."""
    campaign, creator, tier = shown
    values = {"org": org, "campaign": campaign, "creator": creator, "tier": tier}
    args = [values[name] for name in campaigns.SHOWN.names]
    rows = await written.fetch_sql(session, _BOTH, *args, bucket, post_id, *window, limit + 1)
    if not rows:
        return None
    first = tuple(rows[0])
    at = campaigns.SHOWN_COLUMNS
    points = [analytics.Bucket(*tuple(row)[at:]) for row in rows if row[at] is not None]
    return Read(campaigns.shown(first), points[:limit], len(points) <= limit)
