"""A YouTube creator's @handle follows the channel's, as a TikTok or Instagram creator's
follows the author handle their videos' answers name. videos.list names a video's channel by
id only, so the handle comes from channels.list, read for each channel at most once per
YOUTUBE_HANDLE_CHECK_HOURS (app/workers/handles.py); what its answer means for each creator
is decided here, by the same rule as a fetch's (app/domain/authorship.py), and lands through
the same writer and the same `creator.renamed` webhook (services/handle_checks.py). Pure."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.authorship import Author, Authorship, verify_author
from app.domain.refresh import Rename


@dataclass(frozen=True)
class Channel:
    """A YouTube creator known by its channel id, as the check claimed it."""

    creator_id: uuid.UUID
    organization_id: uuid.UUID
    channel_id: str
    handle: str
    checked_at: datetime | None  # the last check before this claim (None: never)


def renames(channels: Sequence[Channel], handles: Mapping[str, str | None]) -> list[Rename]:
    """The creators whose channel now has another handle. A channel the answer left out
    (deleted, terminated) or that has no handle changes nothing: there is nothing to follow;
    a handle that differs only in case is the same handle."""
    found = []
    for channel in channels:
        new = handles.get(channel.channel_id)
        if new is None:
            continue
        mine = Author(channel.handle, channel.channel_id)
        if verify_author(mine, Author(new, channel.channel_id)) is Authorship.RENAMED:
            found.append(Rename(channel.creator_id, channel.channel_id, channel.handle, new, None))
    return found


def claimed_until(now: datetime, every: timedelta, lease: timedelta) -> datetime:
    """What a claim writes as the channel's last check: far enough back that the channel
    is due again one lease from now, should the check never land (a killed worker)."""
    return now - every + lease
