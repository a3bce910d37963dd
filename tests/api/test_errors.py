"""Bad input of any shape gets a problem+json answer, never a 500."""

import base64
import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["type"].endswith(body["code"])
    if code:
        assert body["code"] == code


async def test_malformed_json_points_at_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/campaigns", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["pointer"].startswith("/body")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "nul\x00byte"},
        {"name": "x", "min_views": 10**30},
        {"name": "x" * 10_000},
        {"name": ["list"]},
        {"name": "x", "starts_on": "99999-01-01"},
        [],
        "just a string",
        None,
    ],
)
async def test_odd_bodies_are_422(client: httpx.AsyncClient, body: object) -> None:
    assert_problem(await client.post("/v1/campaigns", json=body), 422, "validation_failed")


async def test_bad_ids_unknown_routes_and_wrong_methods_are_problems(
    client: httpx.AsyncClient,
) -> None:
    assert_problem(await client.get("/v1/campaigns/not-a-uuid"), 422, "validation_failed")
    assert_problem(
        await client.get("/v1/campaigns/00000000-0000-0000-0000-000000000000"),
        404,
        "campaign_not_found",
    )
    assert_problem(await client.get("/v1/nothing-here"), 404, "route_not_found")
    wrong_method = await client.put("/v1/campaigns")
    assert_problem(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET, POST"  # every method of the path, not one
    undecodable = await client.post(
        "/v1/campaigns", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert undecodable.status_code in (400, 422)
    assert undecodable.headers["content-type"] == "application/problem+json"
    falsy = await client.post("/v1/campaigns", json={"name": "x", "min_views": False})
    assert_problem(falsy, 422, "validation_failed")  # false is not a number
    assert_problem(await client.get("/v1/posts", params={"limit": 0}), 422)
    assert_problem(await client.get("/v1/posts", params={"limit": 10_000}), 422)
    assert_problem(await client.get("/v1/posts", params={"published_from": "yesterday"}), 422)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=8,
    )
    | st.fixed_dictionaries({"url": st.text(), "creator_id": st.uuids().map(str) | st.text()})
)
async def test_post_creation_never_answers_500_to_arbitrary_json(
    client: httpx.AsyncClient, body: object
) -> None:
    c = (await f.ok(await client.get("/v1/campaigns", params={"limit": 1})))["data"]
    cid = c[0]["id"] if c else (await f.campaign(client))["id"]
    # json.dumps writes NaN and Infinity as JavaScript does: not JSON, so a 422 too.
    raw = json.dumps(body).encode()
    response = await client.post(
        f"/v1/campaigns/{cid}/posts", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text
    assert response.status_code in (201, 409, 422)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


async def test_inputs_that_once_reached_the_database_raw_are_422(client: httpx.AsyncClient) -> None:
    c = await f.campaign(client)
    cr = await f.creator(client, "natgeo", "instagram")
    await f.member(client, c["id"], cr["id"])
    posts = f"/v1/campaigns/{c['id']}/posts"
    for body in (
        {"platform": "instagram", "platform_post_id": "²²²²²²²²²²²²", "creator_id": cr["id"]},
        {"url": "https://vm.tiktok.com/a\u0000b"},
        {"url": "https://vm.tiktok.com/a\u007fb"},
    ):
        assert_problem(await client.post(posts, json=body), 422)
    for params in (
        {"handle": "\x00"},
        {"published_from": "2024-01-01T00:00:00"},  # no offset: ambiguous
        {"published_from": "0001-01-01T00:00:00+01:00"},
    ):
        response = await client.get(
            "/v1/creators" if "handle" in params else "/v1/posts", params=params
        )
        assert_problem(response, 422)
    huge = (
        base64.urlsafe_b64encode(json.dumps([2**70, str(uuid.uuid4())]).encode())
        .decode()
        .rstrip("=")
    )
    assert_problem(await client.get("/v1/posts", params={"sort": "views", "cursor": huge}), 422)
