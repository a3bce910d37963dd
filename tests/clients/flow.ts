// A typed flow against a live API with the types openapi-typescript generates from
// /openapi.json (tests/test_generated_clients.py writes generated/schema.ts, compiles this
// with `tsc --strict` and runs it). Written as an integrator would, with no casts.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type PostStatus = components["schemas"]["PostStatus"];

const [baseUrl, key] = process.argv.slice(2);
const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`failed: ${what}`);
}

async function main(): Promise<void> {
  // Inputs with defaults (currency, status) are optional.
  const campaign = await api.POST("/v1/campaigns", { body: { name: "TS launch" } });
  if (!campaign.data) throw new Error(JSON.stringify(campaign.error));
  const campaignId = campaign.data.id;
  check(campaign.data.currency === "USD", "default currency");

  const tier = await api.POST("/v1/campaigns/{campaign_id}/cpm-tiers", {
    params: { path: { campaign_id: campaignId } },
    body: { name: "Standard", cpm: "4.50" },
  });
  if (!tier.data) throw new Error(JSON.stringify(tier.error));
  const cpm: string = tier.data.cpm;
  check(cpm === "4.5000", "money is a string");

  const creator = await api.POST("/v1/creators", {
    body: { platform: "tiktok", handle: "tsflow" },
  });
  if (!creator.data) throw new Error(JSON.stringify(creator.error));

  const member = await api.POST("/v1/campaigns/{campaign_id}/members", {
    params: { path: { campaign_id: campaignId } },
    body: { creator_id: creator.data.id, cpm_tier_id: tier.data.id },
  });
  if (!member.data) throw new Error(JSON.stringify(member.error));

  const byUrl = await api.POST("/v1/campaigns/{campaign_id}/posts", {
    params: { path: { campaign_id: campaignId } },
    body: { url: "https://www.tiktok.com/@tsflow/video/7000000000000000101" },
  });
  if (!byUrl.data) throw new Error(JSON.stringify(byUrl.error));
  const byId = await api.POST("/v1/campaigns/{campaign_id}/posts", {
    params: { path: { campaign_id: campaignId } },
    body: { platform: "tiktok", platform_post_id: "7000000000000000102", creator_id: creator.data.id },
  });
  if (!byId.data) throw new Error(JSON.stringify(byId.error));

  const listed = await api.GET("/v1/posts", {
    params: { query: { campaign_id: campaignId, sort: "-views", status: ["tracking"], limit: 10 } },
  });
  if (!listed.data) throw new Error(JSON.stringify(listed.error));
  check(listed.data.data.length === 2, "both posts listed");
  check(listed.data.next_cursor === null, "one page");

  const got = await api.GET("/v1/posts/{post_id}", {
    params: { path: { post_id: byUrl.data.id } },
  });
  if (!got.data) throw new Error(JSON.stringify(got.error));
  const status: PostStatus = got.data.status;
  check(status === "tracking", "status is the enum");

  const members = await api.GET("/v1/campaigns/{campaign_id}/members", {
    params: { path: { campaign_id: campaignId } },
  });
  check(members.data?.data[0]?.creator.handle === "tsflow", "members are a page");

  const report = await api.GET("/v1/campaigns/{campaign_id}/analytics", {
    params: { path: { campaign_id: campaignId } },
  });
  if (!report.data) throw new Error(JSON.stringify(report.error));
  const tracking: number = report.data.posts_by_status.tracking;
  check(tracking === 2, "posts by status is an object");

  const run = await api.POST("/v1/refresh-runs", { body: { campaign_id: campaignId } });
  check(run.response.status === 202, "refresh run accepted");

  const unknown = await api.GET("/v1/posts/{post_id}", {
    params: { path: { post_id: "00000000-0000-0000-0000-000000000000" } },
  });
  check(unknown.error?.code === "post_not_found", "problems are typed");
  console.log("ts flow ok");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
