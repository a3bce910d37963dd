"""A typed flow against a live API with the client openapi-python-client generates from
/openapi.json (tests/test_generated_clients.py generates `viewledger_client` beside this file
in generated/, type-checks this with mypy and runs it). Written as an integrator would."""

import sys
from uuid import UUID

from viewledger_client import AuthenticatedClient
from viewledger_client.api.analytics import campaigns_analytics
from viewledger_client.api.campaigns import campaigns_create
from viewledger_client.api.cpm_tiers import cpm_tiers_create
from viewledger_client.api.creators import creators_create
from viewledger_client.api.members import members_create, members_list
from viewledger_client.api.posts import posts_create, posts_get, posts_list, posts_mark_paid
from viewledger_client.models import (
    CampaignAnalytics,
    CampaignCreate,
    CampaignOut,
    CreatorCreate,
    CreatorCreated,
    MemberCreate,
    MemberOut,
    MemberPage,
    Platform,
    PostCreateById,
    PostCreateByUrl,
    PostOut,
    PostPage,
    PostSort,
    PostStatus,
    Problem,
    TierCreate,
    TierOut,
)


def main(base_url: str, key: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
    with client:
        campaign = campaigns_create.sync(client=client, body=CampaignCreate(name="Py launch"))
        assert isinstance(campaign, CampaignOut), campaign
        tier = cpm_tiers_create.sync(
            campaign.id, client=client, body=TierCreate(name="Standard", cpm="4.50")
        )
        assert isinstance(tier, TierOut), tier
        assert tier.cpm == "4.5000"
        creator = creators_create.sync(
            client=client, body=CreatorCreate(platform=Platform.TIKTOK, handle="pyflow")
        )
        assert isinstance(creator, CreatorCreated), creator
        body = MemberCreate(creator_id=creator.id, cpm_tier_id=tier.id)
        member = members_create.sync(campaign.id, client=client, body=body)
        assert isinstance(member, MemberOut), member
        by_url = posts_create.sync(
            campaign.id,
            client=client,
            body=PostCreateByUrl(url="https://www.tiktok.com/@pyflow/video/7000000000000000201"),
        )
        assert isinstance(by_url, PostOut), by_url
        by_id = posts_create.sync(
            campaign.id,
            client=client,
            body=PostCreateById(
                platform=Platform.TIKTOK,
                platform_post_id="7000000000000000202",
                creator_id=creator.id,
            ),
        )
        assert isinstance(by_id, PostOut), by_id
        page = posts_list.sync(
            client=client,
            campaign_id=campaign.id,
            sort=PostSort.VIEWS_DESC,
            status=[PostStatus.TRACKING],
            limit=10,
        )
        assert isinstance(page, PostPage), page
        assert {p.id for p in page.data} == {by_url.id, by_id.id}
        assert page.next_cursor is None
        got = posts_get.sync(by_url.id, client=client)
        assert isinstance(got, PostOut), got
        assert got.status is PostStatus.TRACKING
        assert got.earnings is None
        members = members_list.sync(campaign.id, client=client)
        assert isinstance(members, MemberPage), members
        assert members.data[0].creator.handle == "pyflow"
        report = campaigns_analytics.sync(campaign.id, client=client)
        assert isinstance(report, CampaignAnalytics), report
        assert report.posts_by_status.tracking == 2
        assert report.earnings.projected == "0.00"
        # The optional body may be left out (it used to be sent as UNSET and crash).
        refused = posts_mark_paid.sync(got.id, client=client)
        assert isinstance(refused, Problem), refused
        assert refused.code == "post_not_finalized"
        missing = posts_get.sync(UUID(int=0), client=client)
        assert isinstance(missing, Problem), missing
        assert missing.code == "post_not_found"
    print("python flow ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
