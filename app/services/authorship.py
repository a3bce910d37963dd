"""Who posted each fetched video is decided with the rest of a batch's results
(app/domain/refresh.py, by app/domain/authorship.py's rule) and written by the result writer
(services/refresh_results.py); what is left here is the `creator.renamed` webhook of each
rename that landed."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import creators
from app.schemas.creators import CreatorOut
from app.webhooks import outbox
from app.webhooks.events import EventType


async def renamed_events(
    session: AsyncSession, renamed: Sequence[Row[Any]], listening: set[uuid.UUID]
) -> list[outbox.Event]:
    """`creator.renamed`: the creator as the API shows it, with its previous handle, for
    the organizations listening (`outbox.listening`)."""
    wanted = [row for row in renamed if row.organization_id in listening]
    if not wanted:
        return []
    stored = await creators.by_ids(session, [r.id for r in wanted])
    return [
        outbox.Event(
            row.organization_id,
            EventType.CREATOR_RENAMED,
            {
                **CreatorOut.model_validate(stored[row.id]).model_dump(mode="json"),
                "previous_handle": row.old,
            },
        )
        for row in wanted
    ]
