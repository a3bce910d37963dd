"""A video published outside its campaign's dates is held (the rule is
app/domain/campaigns.outside_campaign_window), checked on every applied fetch."""

from app.domain.campaigns import outside_campaign_window
from app.domain.enums import HoldCode
from app.platforms.contract import VideoStats
from app.repositories.claims import DuePost
from app.repositories.holds import NewHold


def window_holds(ok: list[tuple[DuePost, VideoStats]]) -> list[NewHold]:
    holds = []
    for post, stats in ok:
        published = stats.published_at or post.published_at
        if published and outside_campaign_window(published, post.starts_on, post.ends_on):
            runs = f"{post.starts_on or 'the start'} to {post.ends_on or 'open end'}"
            holds.append(
                NewHold(
                    post_id=post.id,
                    organization_id=post.organization_id,
                    code=HoldCode.OUTSIDE_CAMPAIGN_WINDOW,
                    reason=f"Published {published.date()}; the campaign runs {runs}.",
                    evidence={
                        "published_at": published.isoformat(),
                        "starts_on": post.starts_on and post.starts_on.isoformat(),
                        "ends_on": post.ends_on and post.ends_on.isoformat(),
                    },
                )
            )
    return holds
