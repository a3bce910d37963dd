"""Adding posts and the manual lifecycle actions. Each action reads the post FOR UPDATE and
applies its change through the one transition writer, which guards it with the lifecycle's
table (app/domain/transitions.py), raises the rule's 409 when it does not apply, and records
its event."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.domain import campaigns as campaign_rules
from app.domain import evidence, lifecycle, watching
from app.domain.authorship import same_handle
from app.domain.enums import Platform, PostStatus
from app.domain.errors import Conflict, InvalidInput, Unavailable, found
from app.domain.transitions import Transition
from app.models import Campaign, Creator, Post
from app.platforms import shortlinks
from app.platforms.urls import (
    PostRef,
    ShortLink,
    UrlError,
    canonical_url,
    normalize_post_id,
    parse_video_url,
)
from app.repositories import creators, posts
from app.schemas.posts import PostCreate
from app.services import transitions
from app.services.campaigns import tier_for


async def reference(
    body: PostCreate, resolver: shortlinks.Resolver, organization: uuid.UUID | None = None
) -> PostRef:
    """The video the request names. Call it before taking a database connection (or opening
    a transaction): a short link is followed on the platform's hosts, which may take seconds,
    in `organization`'s turn at the process's resolver."""
    if body.url is None:
        # PostCreate's validator guarantees both are set when url is not.
        assert body.platform is not None
        assert body.platform_post_id is not None
        try:
            return PostRef(body.platform, normalize_post_id(body.platform, body.platform_post_id))
        except UrlError as exc:
            raise InvalidInput("invalid_post_id", str(exc), "platform_post_id") from None
    try:
        ref = parse_video_url(body.url)
    except UrlError as exc:
        raise InvalidInput("invalid_url", str(exc), "url") from None
    if isinstance(ref, ShortLink):
        try:
            return await resolver.resolve(ref, organization)
        except shortlinks.ShortLinkInvalid:
            raise InvalidInput(
                "short_link_invalid",
                f"The short link does not lead to a {ref.platform} video on {ref.platform}'s "
                "own hosts.",
                "url",
            ) from None
        except shortlinks.ShortLinkUnavailable:
            raise Unavailable(
                "short_link_unavailable",
                f"{ref.platform} did not resolve the short link in time; try again shortly, or "
                "send the video's full URL.",
            ) from None
    return ref


async def _creator(
    session: AsyncSession, org: uuid.UUID, body: PostCreate, ref: PostRef
) -> Creator:
    if body.creator_id is not None:
        creator = await session.get(Creator, body.creator_id)
        if creator is None or creator.organization_id != org:
            raise InvalidInput("creator_not_found", "No creator with that id.", "creator_id")
        if creator.platform != ref.platform:
            raise InvalidInput(
                "platform_mismatch",
                f"The creator is on {creator.platform}; the video is on {ref.platform}.",
                "creator_id",
            )
        if ref.handle is not None and not same_handle(ref.handle, creator.handle):
            await _not_anothers(session, org, ref.platform, ref.handle, creator)
        return creator
    if ref.handle is None:
        raise InvalidInput(
            "creator_required", "The URL does not name the creator; send creator_id.", "creator_id"
        )
    creator = await creators.by_handle(session, org, ref.platform, ref.handle)
    if creator is None:  # a handle one creator had before a rename is still that creator's
        known = await creators.known_by_handle(session, org, ref.platform, ref.handle)
        creator = known[0] if len(known) == 1 else None
    if creator is None:
        raise Conflict(
            "creator_not_member",
            f"No {ref.platform} creator @{ref.handle} is in this campaign; add the creator and "
            "make them a member first.",
        )
    return creator


async def _not_anothers(
    session: AsyncSession, org: uuid.UUID, platform: Platform, handle: str, creator: Creator
) -> None:
    """A URL whose handle is not the creator's current one. The creator's old handle, or
    a handle no creator of the organization has (a name from before joining), is taken: the
    fetch decides by the platform's user id. One that is another creator's, now or before,
    names someone else's video: refused."""
    known = await creators.known_by_handle(session, org, platform, handle)
    if not known or any(c.id == creator.id for c in known):
        return
    named, other = handle.removeprefix("@"), known[0].handle
    whose = (
        "another creator of this organization"
        if same_handle(named, other)
        else f"an earlier handle of creator @{other} of this organization"
    )
    raise InvalidInput(
        "author_mismatch",
        f"The URL names @{named}, {whose}, not @{creator.handle}: a post is paid to the "
        "video's author only.",
        "url",
    )


async def create(
    session: AsyncSession,
    principal: Principal | None,
    campaign: Campaign,
    body: PostCreate,
    ref: PostRef,
    *,
    watch_id: uuid.UUID | None = None,
) -> Post:
    """Add the video `ref` (from `reference()`) to the campaign; `watch_id`: found on that
    watched account (its source is then `watched_account`, in the post, its created event
    and the post.created webhook). No `principal`: the system adds it (a watch), for the
    campaign's organization."""
    campaign_rules.ensure_takes_posts(campaign.status, campaign.ends_on, datetime.now(UTC))
    org = campaign.organization_id if principal is None else principal.organization_id
    creator = await _creator(session, org, body, ref)
    member = await creators.get_member(session, campaign.id, creator.id)
    if member is None:
        raise Conflict(
            "creator_not_member",
            f"Creator @{creator.handle} is not a member of this campaign; add them first.",
        )
    tier_id = member.cpm_tier_id
    if body.cpm_tier_id is not None:
        tier_id = (await tier_for(session, org, campaign.id, body.cpm_tier_id)).id
    existing = await posts.by_platform_id(session, org, ref.platform, ref.post_id)
    if existing is not None:
        raise Conflict(
            "post_exists",
            "The organization already tracks this video"
            + (" in this campaign." if existing.campaign_id == campaign.id else ", in a campaign.")
            + " A video is tracked, and paid, once.",
            existing_post_id=existing.id,
            existing_campaign_id=existing.campaign_id,
        )
    post = Post(
        organization_id=org,
        campaign_id=campaign.id,
        creator_id=creator.id,
        platform=ref.platform,
        platform_post_id=ref.post_id,
        url=canonical_url(ref.platform, ref.post_id, creator.handle),
        status=PostStatus.TRACKING,
        cpm_tier_id=tier_id,
        source=watching.SOURCE_SUBMITTED if watch_id is None else watching.SOURCE_WATCHED,
        watched_account_id=watch_id,
    )
    session.add(post)
    await session.flush()
    await session.refresh(post)
    await transitions.created(session, post, None if principal is None else principal.key_id)
    return post


async def _locked(session: AsyncSession, org: uuid.UUID, post_id: uuid.UUID) -> Post:
    return found(await posts.get(session, org, post_id, for_update=True), "post")


async def _move(
    session: AsyncSession,
    principal: Principal,
    post: Post,
    to: PostStatus,
    code: str,
    reason: str | None,
    values: dict[str, Any],
    evidence: dict[str, Any] | None = None,
) -> Post:
    """One manual transition through the transition writer, which applies the lifecycle's
    guard for (the post's status, `to`) and raises its 409 when the post does not meet it.
    The post was read FOR UPDATE, so nothing else changes it meanwhile."""
    await transitions.move(
        session,
        Transition(
            post_id=post.id,
            from_status=post.status,
            to_status=to,
            code=code,
            reason=reason,
            actor_key_id=principal.key_id,
            values=values,
            evidence=evidence,
        ),
        datetime.now(UTC),
    )
    await session.refresh(post)
    return post


async def assign_tier(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, tier_id: uuid.UUID | None
) -> Post:
    org = principal.organization_id
    post = await _locked(session, org, post_id)
    lifecycle.check_tier_assignment(post.status)
    tier = None if tier_id is None else await tier_for(session, org, post.campaign_id, tier_id)
    if post.status is PostStatus.PENDING_CPM and tier is not None:
        assert post.locked_views is not None  # locked when the post became pending_cpm
        terms = lifecycle.Tier(tier.cpm, tier.cap, tier.name)
        amount = lifecycle.earnings(post.locked_views, terms)
        locked = await posts.last_evidence(session, post.id)
        return await _move(
            session,
            principal,
            post,
            PostStatus.FINALIZED,
            "tier_assigned",
            f"Tier {tier.name} assigned; {post.locked_views:,} locked views.",
            {"cpm_tier_id": tier.id, "earnings": amount, "finalized_at": datetime.now(UTC)},
            evidence.with_tier(locked, post.locked_views, terms, tier.id, amount),
        )
    post.cpm_tier_id = None if tier is None else tier.id
    await session.flush()
    await session.refresh(post)
    return post


async def reject(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, reason: str
) -> Post:
    post = await _locked(session, principal.organization_id, post_id)
    return await _move(
        session,
        principal,
        post,
        PostStatus.REJECTED,
        "manual_rejection",
        reason,
        {"rejection_code": "manual", "rejection_reason": reason, "refresh_run_id": None},
    )


async def restore(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, reason: str | None
) -> Post:
    """Back to the status it was rejected from. A post rejected while tracking goes back to
    tracking and is fetched at once; its deadline decision waits for those fresh stats."""
    post = await _locked(session, principal.organization_id, post_id)
    lifecycle.check_restore(post.status)
    previous = await posts.last_rejected_from(session, post.id) or PostStatus.TRACKING
    now = datetime.now(UTC)
    return await _move(
        session,
        principal,
        post,
        previous,
        "restored",
        reason,
        {
            "rejection_code": None,
            "rejection_reason": None,
            "next_refresh_at": now,
            "decide_after": now,
        },
    )


async def mark_paid(
    session: AsyncSession, principal: Principal, post_id: uuid.UUID, reference: str | None
) -> Post:
    """Idempotent for a retry: a post already paid under the same reference is answered as it
    is; under another reference (or none), 409 post_already_paid. The writer refuses a post
    that is not finalized, has an open hold (409 post_has_open_holds) or is in an open payout
    batch (409 post_in_open_payout, naming it): that batch pays it, or is cancelled first."""
    post = await _locked(session, principal.organization_id, post_id)
    if post.status is PostStatus.PAID:
        if reference is not None and post.payout_reference == reference:
            return post
        raise Conflict(
            "post_already_paid",
            f"The post was already paid (reference {post.payout_reference or 'none'}).",
        )
    return await _move(
        session,
        principal,
        post,
        PostStatus.PAID,
        "marked_paid",
        reference,
        {"paid_at": datetime.now(UTC), "payout_reference": reference},
    )
