"""The API contract (GUIDE section 4, issue 12): the schema says what the server enforces,
every list has one shape, cursors and query parameters are checked, bodies and references
are told apart. (The change feed, refresh runs and analytics have their own files.)"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import PostStatus
from tests import factories as f

TIKTOK = "https://www.tiktok.com/@scout2015/video/{}"
SM = async_sessionmaker[AsyncSession]


def video(n: int) -> str:
    return TIKTOK.format(7000000000000000000 + n)


# The schema


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path.startswith("/v1/")
    ]


async def test_component_names_are_plain_and_enums_are_named(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in schemas:
        assert name.isidentifier(), name
        assert "_" not in name, name
        assert "Type0" not in name, name
    sort = schemas["PostSort"]
    assert sort["x-enum-varnames"][:2] == ["CREATED_AT", "CREATED_AT_DESC"]
    top = schemas["TopPost"]["properties"]
    assert top["platform"] == {"$ref": "#/components/schemas/Platform"}
    assert top["status"] == {"$ref": "#/components/schemas/PostStatus"}
    by_status = schemas["PostsByStatus"]
    # Built from the enum: every status, each always present.
    assert set(by_status["required"]) == {s.value for s in PostStatus}
    assert schemas["RunOut"]["properties"]["scope"] == {"$ref": "#/components/schemas/RunScope"}
    assert schemas["RunOut"]["properties"]["by_source"] == {
        "$ref": "#/components/schemas/RunSources"
    }


async def test_every_list_is_a_page_with_limit_and_cursor(spec: dict[str, Any]) -> None:
    lists = 0
    for method, path, op in _operations(spec):
        if (
            method != "get"
            or path.endswith("}")
            or path in ("/v1/me", "/v1/session", "/v1/organization")
        ):
            continue
        if path.endswith(
            (
                "/analytics",
                "/pulse",
                "/summary",
                "/evidence",
                "/raw",
                ".csv",
                ".xlsx",
                "/integrations/discord",
            )
        ):
            continue  # a report, a file or the one connection: not lists
        lists += 1
        answer = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["$ref"].endswith("Page"), path
        page = _resolve(spec, answer)
        assert set(page["required"]) == {"data", "next_cursor"}, path
        names = {p["name"] for p in op.get("parameters", [])}
        assert {"limit", "cursor"} <= names, path
    assert lists >= 11


async def test_money_is_a_string_with_a_pattern_in_and_out(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, field in [
        ("TierCreate", "cpm"),
        ("TierOut", "cpm"),
        ("CampaignEarnings", "projected"),
        ("CreatorTotals", "earnings"),
    ]:
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string", (name, field)
        assert prop["pattern"].startswith("^"), (name, field)
    earnings = schemas["PostOut"]["properties"]["earnings"]["anyOf"][0]
    assert earnings["pattern"] == r"^[0-9]{1,26}\.[0-9]{2}$"


async def test_inputs_with_defaults_are_optional_for_generators(spec: dict[str, Any]) -> None:
    """openapi-typescript types a property with a `default` as always present; request-only
    schemas keep the default in the description instead, and never list it as required."""
    schemas = spec["components"]["schemas"]
    for name in ("CampaignCreate", "KeyCreate", "RunCreate", "WebhookEndpointCreate"):
        schema = schemas[name]
        for field, prop in schema["properties"].items():
            assert "default" not in prop, (name, field)
    assert "status" not in schemas["CampaignCreate"].get("required", [])
    assert "Default: `USD`." in schemas["CampaignCreate"]["properties"]["currency"]["description"]


async def test_optional_bodies_are_optional_not_null_unions(spec: dict[str, Any]) -> None:
    for path in (
        "/v1/posts/{post_id}/mark-paid",
        "/v1/posts/{post_id}/restore",
        "/v1/refresh-runs",
    ):
        body = spec["paths"][path]["post"]["requestBody"]
        assert not body.get("required")
        assert "anyOf" not in body["content"]["application/json"]["schema"]
    create = spec["paths"]["/v1/campaigns/{campaign_id}/posts"]["post"]["requestBody"]
    shapes = create["content"]["application/json"]["schema"]["oneOf"]
    assert [s["$ref"].rsplit("/", 1)[1] for s in shapes] == ["PostCreateByUrl", "PostCreateById"]
    by_id = _resolve(spec, shapes[1])
    assert set(by_id["required"]) == {"platform", "platform_post_id"}


async def test_text_bounds_and_nul_refusal_are_in_the_schema(
    spec: dict[str, Any], client: httpx.AsyncClient
) -> None:
    name = spec["components"]["schemas"]["CampaignCreate"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 200)
    assert "\\x00" in name["pattern"]
    for bad in ("a\x00b", "   ", "x" * 201):
        answer = await client.post("/v1/campaigns", json={"name": bad})
        assert answer.status_code == 422, bad
    # The bound counts what is sent: 200 characters with spaces around are too many.
    assert (
        await client.post("/v1/campaigns", json={"name": " " + "x" * 199 + " "})
    ).status_code == 422
    kept = await f.ok(await client.post("/v1/campaigns", json={"name": "  Spring  "}), 201)
    assert kept["name"] == "Spring"


async def test_dates_and_times_are_text_with_plausible_years(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=video(1))
    stats = f"/v1/posts/{p['id']}/stats"
    for value in ("0.5", "1700000000", "0969-01-01T00:00:00Z", "9001-01-01T00:00:00Z"):
        answer = await client.get(stats, params={"to": value})
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_failed"), value
    assert (await client.get(stats, params={"to": "2026-01-31T00:00:00Z"})).status_code == 200
    for day in ("1969-12-31", "20260101", 20260101):
        answer = await client.post("/v1/campaigns", json={"name": "D", "starts_on": day})
        assert answer.status_code == 422, day


# Query parameters and cursors


async def test_unknown_query_parameters_are_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/posts", params={"statuss": "paid"})
    assert (answer.status_code, answer.json()["code"]) == (422, "unknown_parameter")
    assert answer.json()["errors"][0]["pointer"] == "/query/statuss"
    # Declared ones (a model's fields included) pass, on every kind of operation.
    assert (await client.get("/v1/posts", params={"status": "paid", "limit": 1})).status_code == 200
    assert (await client.get("/v1/me", params={"x": "1"})).status_code == 422
    c = await f.campaign(client)
    assert (
        await client.get(f"/v1/campaigns/{c['id']}/analytics", params={"days": 2})
    ).status_code == 200


async def test_a_cursor_only_works_with_the_query_it_came_from(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    for n in range(3):
        await f.post(client, s["campaign"]["id"], url=video(n))
    first = await f.ok(await client.get("/v1/posts", params={"sort": "views", "limit": 1}))
    cursor = first["next_cursor"]
    assert cursor is not None
    same = await client.get("/v1/posts", params={"sort": "views", "limit": 2, "cursor": cursor})
    assert same.status_code == 200  # the page size may change
    for other in ({"sort": "-views"}, {"sort": "views", "status": "paid"}, {"platform": "tiktok"}):
        answer = await client.get("/v1/posts", params={**other, "limit": 1, "cursor": cursor})
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_cursor"), other
        assert answer.json()["errors"][0]["pointer"] == "/query/cursor"


async def test_every_list_pages_members_tiers_keys_and_events_too(
    client: httpx.AsyncClient,
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    await f.tier(client, cid, name="Second")
    await f.ok(await client.post("/v1/api-keys", json={"role": "viewer"}), 201)
    p = await f.post(client, cid, url=video(1))
    for path, total in [
        (f"/v1/campaigns/{cid}/members", 2),
        (f"/v1/campaigns/{cid}/cpm-tiers", 2),
        ("/v1/api-keys", 2),
        (f"/v1/posts/{p['id']}/events", 1),
    ]:
        seen: list[Any] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = await f.ok(await client.get(path, params=params))
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == total, path
        assert len({str(x) for x in seen}) == total, path


async def test_stats_are_a_page_and_later_pages_keep_the_window(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=video(1))
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for hour in range(5):
        await session.execute(
            text(
                "INSERT INTO stats_snapshots (post_id, campaign_id, captured_at, views, likes,"
                " comments, shares, source) VALUES (:p, :c, :at, :v, 0, 0, 0, 'primary')"
            ),
            {"p": p["id"], "c": s["campaign"]["id"], "at": base + timedelta(hours=hour), "v": hour},
        )
    await session.commit()
    window = {"from": base.isoformat(), "to": (base + timedelta(days=1)).isoformat()}
    seen: list[int] = []
    params: dict[str, Any] = {**window, "bucket": "hour", "limit": 2}
    while True:
        page = await f.ok(await client.get(f"/v1/posts/{p['id']}/stats", params=params))
        seen += [point["views"] for point in page["data"]]
        if page["next_cursor"] is None:
            break
        params = {**window, "bucket": "hour", "limit": 2, "cursor": page["next_cursor"]}
    assert seen == [0, 1, 2, 3, 4]
    bad = await client.get(
        f"/v1/posts/{p['id']}/stats",
        params={"from": window["to"], "to": window["from"]},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_range")


# Bodies and references


async def test_an_optional_body_is_an_object_or_absent_never_null(
    client: httpx.AsyncClient,
) -> None:
    absent = await client.post("/v1/refresh-runs")
    assert absent.status_code == 202
    null = await client.post(
        "/v1/refresh-runs", content=b"null", headers={"Content-Type": "application/json"}
    )
    assert (null.status_code, null.json()["errors"][0]["pointer"]) == (422, "/body")


async def test_404_is_for_the_path_a_missing_body_reference_is_invalid_input(
    client: httpx.AsyncClient,
) -> None:
    c = await f.campaign(client)
    nobody = str(uuid.UUID(int=1))
    member = await client.post(f"/v1/campaigns/{c['id']}/members", json={"creator_id": nobody})
    assert (member.status_code, member.json()["code"]) == (422, "creator_not_found")
    assert member.json()["errors"][0]["pointer"] == "/body/creator_id"
    run = await client.post("/v1/refresh-runs", json={"campaign_id": nobody})
    assert (run.status_code, run.json()["code"]) == (422, "campaign_not_found")
    path = await client.post(f"/v1/campaigns/{nobody}/members", json={"creator_id": nobody})
    assert (path.status_code, path.json()["code"]) == (404, "campaign_not_found")
