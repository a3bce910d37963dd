"""The HTTP edge: request ids, the access log, body limits."""

import json
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import errors
from app.db import describe_database_error
from app.http.location import LOCATIONS
from app.logs import JsonFormatter, TextFormatter
from app.main import create_app
from app.models import ApiKey
from app.repositories import api_keys
from tests import factories as f
from tests.conftest import Org

ClientFor = Callable[[str | None], httpx.AsyncClient]
MIB = 1024 * 1024


async def test_every_answer_carries_a_request_id_which_problems_repeat(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    ok = await client.get("/v1/campaigns")
    assert ok.status_code == 200
    assert len(ok.headers["x-request-id"]) >= 32
    again = await client.get("/v1/campaigns")
    assert again.headers["x-request-id"] != ok.headers["x-request-id"]

    missing = await client.get("/v1/campaigns/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["request_id"] == missing.headers["x-request-id"]

    async with client_for(None) as anonymous:
        unauthorized = await anonymous.get("/v1/campaigns", headers={"X-Request-Id": "abc-123"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["x-request-id"] == "abc-123"
    assert unauthorized.json()["request_id"] == "abc-123"
    assert (await anonymous_health(client)).headers["x-request-id"]


async def anonymous_health(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/health/live")


@pytest.mark.parametrize("sent", ["", "x" * 129, "has space", "new\u00e9line", "a\tb"])
async def test_an_odd_callers_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get(
        "/v1/campaigns", headers=[(b"X-Request-Id", sent.encode("latin-1", "replace"))]
    )
    assert response.headers["x-request-id"] not in ("", sent)


async def test_each_request_is_logged_once_with_its_route_template_and_organization(
    client: httpx.AsyncClient, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    c = await f.campaign(client)
    caplog.set_level(logging.INFO, logger="app.access")
    caplog.clear()
    response = await client.get(f"/v1/campaigns/{c['id']}", headers={"X-Request-Id": "trace-1"})
    lines = [r for r in caplog.records if r.name == "app.access"]
    assert len(lines) == 1
    record = lines[0]
    assert record.__dict__["request_id"] == "trace-1" == response.headers["x-request-id"]
    assert record.__dict__["route"] == "/v1/campaigns/{campaign_id}"
    assert record.__dict__["method"] == "GET"
    assert record.__dict__["status"] == 200
    assert record.__dict__["organization_id"] == str(org.id)
    assert record.__dict__["duration_ms"] >= 0
    assert c["id"] not in record.getMessage()  # the template, never the raw path
    assert org.key not in caplog.text

    as_json = json.loads(JsonFormatter().format(record))
    assert as_json["request_id"] == "trace-1"
    assert as_json["route"] == "/v1/campaigns/{campaign_id}"
    assert as_json["status"] == 200
    assert as_json["organization_id"] == str(org.id)
    assert "request_id=trace-1" in TextFormatter().format(record)


async def test_a_declared_content_length_over_the_limit_is_refused_at_once(
    client_for: ClientFor,
) -> None:
    async with client_for(None) as anonymous:
        response = await anonymous.post(
            "/v1/campaigns",
            content=b"{}" + b" " * MIB,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "body_too_large"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_streamed_body_is_cut_off_before_authentication_reads_it(
    client_for: ClientFor, org: Org
) -> None:
    sent = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(150):  # 150 MiB if it were all read
            sent += 1
            yield b" " * MIB

    # With a key, the body is read, and cut off at the limit.
    async with client_for(org.key) as known:
        response = await known.post(
            "/v1/campaigns", content=huge(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert sent <= 3

    # Without one, nothing of it is read at all (issue 22 item 7): 401 at once.
    sent = 0
    async with client_for(None) as anonymous:
        response = await anonymous.post(
            "/v1/campaigns", content=huge(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert sent <= 1


async def test_a_body_under_the_limit_passes(client: httpx.AsyncClient) -> None:
    padded = json.dumps({"name": "Padded"}).encode() + b" " * (MIB - 100)
    response = await client.post(
        "/v1/campaigns", content=padded, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text


async def test_database_errors_are_logged_without_the_rows_values(
    sessionmaker: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    marker = "c0ffee" * 10 + "beef"  # a key hash: 64 characters
    async with sessionmaker() as session:
        org, _ = await api_keys.create_organization(session, "Leaky")

        def key() -> ApiKey:
            return ApiKey(organization_id=org.id, role="viewer", prefix="x", key_hash=marker)

        session.add(key())
        await session.flush()

        async def duplicate() -> None:
            async with session.begin_nested():
                session.add(key())
                await session.flush()

        with pytest.raises(IntegrityError) as caught:
            await duplicate()
    error = caught.value
    # SQLAlchemy's own message hides the statement's parameters...
    assert "parameters hidden" in str(error)
    # ...and what the handlers log names the constraint, not the DETAIL line with the values.
    described = describe_database_error(error)
    assert "api_keys_key_hash_key" in described
    assert "23505" in described
    assert marker not in described
    caplog.set_level(logging.WARNING, logger="app.errors")
    response = await errors._integrity_error(None, error)  # type: ignore[arg-type]
    assert response.status_code == 409
    assert "api_keys_key_hash_key" in caplog.text
    assert marker not in caplog.text


def test_every_create_operation_has_a_location() -> None:
    spec = create_app().openapi()
    creates = {
        op["operationId"]
        for path in spec["paths"].values()
        for op in path.values()
        if "201" in op["responses"]
    }
    assert creates == set(LOCATIONS)


async def test_every_201_carries_the_location_of_what_it_made(client: httpx.AsyncClient) -> None:
    c = await client.post("/v1/campaigns", json={"name": "Located"})
    cid = c.json()["id"]
    assert c.headers["location"] == f"/v1/campaigns/{cid}"
    assert (await client.get(c.headers["location"])).json() == c.json()

    t = await client.post(f"/v1/campaigns/{cid}/cpm-tiers", json={"name": "T", "cpm": "1"})
    assert t.headers["location"] == f"/v1/campaigns/{cid}/cpm-tiers/{t.json()['id']}"

    cr = await client.post("/v1/creators", json={"platform": "tiktok", "handle": "scout2015"})
    created = {k: v for k, v in cr.json().items() if k != "access_code"}  # shown once only
    assert (await client.get(cr.headers["location"])).json() == created

    m = await client.post(f"/v1/campaigns/{cid}/members", json={"creator_id": cr.json()["id"]})
    assert m.headers["location"] == f"/v1/campaigns/{cid}/members/{cr.json()['id']}"

    p = await client.post(
        f"/v1/campaigns/{cid}/posts", json={"url": "https://www.tiktok.com/@scout2015/video/1"}
    )
    assert p.status_code == 201, p.text
    assert (await client.get(p.headers["location"])).json()["id"] == p.json()["id"]

    k = await client.post("/v1/api-keys", json={"role": "viewer"})
    assert k.headers["location"] == f"/v1/api-keys/{k.json()['id']}"

    # Other answers carry none.
    assert "location" not in (await client.get(f"/v1/campaigns/{cid}")).headers
    refused = await client.post("/v1/campaigns", json={})
    assert refused.status_code == 422
    assert "location" not in refused.headers


async def test_the_openapi_document_states_the_edges_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["schemas"]["Problem"]["properties"]["request_id"]
    writes = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            for response in responses.values():
                assert "X-Request-Id" in response["headers"]
            if not path.startswith("/v1/"):
                continue
            assert all("RateLimit-Remaining" in r["headers"] for r in responses.values())
            assert "application/problem+json" in responses["429"]["content"]
            assert "Retry-After" in responses["429"]["headers"]
            header_params = [p for p in op.get("parameters", []) if p["in"] == "header"]
            if method in ("post", "patch"):
                writes += 1
                assert [p["name"] for p in header_params] == ["Idempotency-Key"], (method, path)
                assert header_params[0]["schema"]["maxLength"] == 255
                assert "413" in responses
            else:
                assert header_params == []
            if "201" in responses:
                assert responses["201"]["headers"]["Location"]
    assert writes >= 10
    headers = spec["components"]["headers"]
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(headers)
    assert headers["Location"]["required"] is True


async def test_an_unexpected_error_is_a_problem_with_the_request_id(
    app: FastAPI, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/v1/broken", broken, methods=["GET"])
    # The app is reused by later tests in this process (tests/conftest.served_app): the route
    # must not outlive this test, or their OpenAPI document carries it.
    route = app.router.routes[-1]
    caplog.set_level(logging.INFO, logger="app.access")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as anonymous:
            response = await anonymous.get("/v1/broken", headers={"X-Request-Id": "oops-1"})
    finally:
        app.router.routes.remove(route)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.json()["request_id"] == "oops-1"
    assert response.headers["x-request-id"] == "oops-1"
    access = [r for r in caplog.records if r.name == "app.access"]
    assert [(r.__dict__["request_id"], r.__dict__["status"]) for r in access] == [("oops-1", 500)]
