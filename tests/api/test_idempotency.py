"""Idempotency-Key on POST and PATCH (issue 12 item 1)."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import idempotency
from app.domain.enums import Role
from app.main import create_app
from app.models import ApiKey, IdempotencyKey
from app.repositories import idempotency as repo
from app.settings import Settings
from tests import factories as f
from tests.conftest import MakeOrg, Org

ClientFor = Callable[[str | None], httpx.AsyncClient]


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


async def _key_id(sessionmaker: async_sessionmaker[AsyncSession], org: Org) -> uuid.UUID:
    """The id of the organization's first API key (the `org` fixture's)."""
    async with sessionmaker() as session:
        return (
            await session.scalars(
                select(ApiKey.id).where(ApiKey.organization_id == org.id).order_by(ApiKey.id)
            )
        ).first()  # type: ignore[return-value]


async def _campaign_count(client: httpx.AsyncClient) -> int:
    return len((await f.ok(await client.get("/v1/campaigns", params={"limit": 200})))["data"])


async def test_the_same_request_with_the_same_key_is_replayed_not_run_again(
    client: httpx.AsyncClient,
) -> None:
    headers = key()
    first = await client.post("/v1/campaigns", json={"name": "Once"}, headers=headers)
    again = await client.post("/v1/campaigns", json={"name": "Once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert await _campaign_count(client) == 1

    # Without a key, the same body is a new request.
    await f.ok(await client.post("/v1/campaigns", json={"name": "Once"}), 201)
    assert await _campaign_count(client) == 2


async def test_another_request_under_a_used_key_is_422(client: httpx.AsyncClient) -> None:
    headers = key()
    c = await f.ok(await client.post("/v1/campaigns", json={"name": "A"}, headers=headers), 201)
    for method, path, body in [
        ("POST", "/v1/campaigns", {"name": "B"}),  # another body
        ("PATCH", f"/v1/campaigns/{c['id']}", {"name": "A"}),  # another method and path
    ]:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "idempotency_key_reused"
        assert response.headers["content-type"] == "application/problem+json"
    assert await _campaign_count(client) == 1


async def test_patches_and_refusals_are_replayed_too(client: httpx.AsyncClient) -> None:
    c = await f.campaign(client)
    headers = key()
    url = f"/v1/campaigns/{c['id']}"
    renamed = await f.ok(await client.patch(url, json={"name": "Renamed"}, headers=headers))
    await f.ok(await client.patch(url, json={"name": "Later"}))
    replayed = await client.patch(url, json={"name": "Renamed"}, headers=headers)
    assert replayed.json() == renamed  # the first answer, not the current state
    assert replayed.headers["idempotent-replayed"] == "true"

    # A 4xx is an answer too: the same refused request gets the same refusal.
    tiers = f"/v1/campaigns/{c['id']}/cpm-tiers"
    await f.ok(await client.post(tiers, json={"name": "T", "cpm": "4.50"}), 201)
    headers = key()
    taken = await client.post(tiers, json={"name": "T", "cpm": "5.00"}, headers=headers)
    assert (taken.status_code, taken.json()["code"]) == (409, "cpm_tier_exists")
    again = await client.post(tiers, json={"name": "T", "cpm": "5.00"}, headers=headers)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (409, "true")
    assert again.content == taken.content


async def test_a_key_whose_first_request_still_runs_is_409_until_its_lease_lapses(
    client: httpx.AsyncClient, org: Org, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = b'{"name": "Busy"}'
    headers = {**key(), "content-type": "application/json"}
    print_ = idempotency.fingerprint("POST", "/v1/campaigns", b"", body)
    api_key_id = await _key_id(sessionmaker, org)

    async def claim_as_another_process(lease: timedelta) -> None:
        async with sessionmaker() as session:
            outcome = await repo.claim(
                session,
                org.id,
                api_key_id,
                headers["Idempotency-Key"],
                print_,
                lease,
                timedelta(hours=24),
            )
            await session.commit()
        assert isinstance(outcome, repo.Claimed)

    # Another process holds the key and is still running.
    await claim_as_another_process(timedelta(minutes=1))
    busy = await client.post("/v1/campaigns", content=body, headers=headers)
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_key_in_use"
    assert busy.headers["retry-after"] == "1"
    assert await _campaign_count(client) == 0

    # It crashed: once its lease lapses, the same request runs and is kept.
    async with sessionmaker() as session:
        await session.execute(update(IdempotencyKey).values(locked_until=func.clock_timestamp()))
        await session.commit()
    ran = await client.post("/v1/campaigns", content=body, headers=headers)
    assert ran.status_code == 201
    replay = await client.post("/v1/campaigns", content=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert await _campaign_count(client) == 1


async def test_keys_are_scoped_to_the_organization(
    client: httpx.AsyncClient, client_for: ClientFor, make_org: MakeOrg
) -> None:
    headers = key()
    ours = await f.ok(await client.post("/v1/campaigns", json={"name": "X"}, headers=headers), 201)
    rival = await make_org("Rival")
    async with client_for(rival.key) as other:
        theirs = await other.post("/v1/campaigns", json={"name": "X"}, headers=headers)
        assert theirs.status_code == 201
        assert "idempotent-replayed" not in theirs.headers
        assert theirs.json()["id"] != ours["id"]
        assert await _campaign_count(other) == 1
    assert await _campaign_count(client) == 1


async def test_a_replay_is_served_by_another_api_process(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
) -> None:
    headers = {**key(), "Authorization": f"Bearer {org.key}"}
    answers = []
    for _ in range(2):
        app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
            ) as client,
        ):
            answers.append(await client.post("/v1/campaigns", json={"name": "Shared"}))
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[1].content == answers[0].content
    assert answers[1].headers["idempotent-replayed"] == "true"


async def test_bad_keys_are_refused(client: httpx.AsyncClient) -> None:
    for bad in (b"", b"x" * 256, b"tab\there", "caf\u00e9".encode("latin-1")):
        response = await client.post(
            "/v1/campaigns", json={"name": "X"}, headers=[(b"Idempotency-Key", bad)]
        )
        assert response.status_code == 422, bad
        assert response.json()["code"] == "idempotency_key_invalid"
        assert response.json()["errors"][0]["pointer"] == "/header/Idempotency-Key"
    assert await _campaign_count(client) == 0
    ok = await client.post(
        "/v1/campaigns", json={"name": "X"}, headers={"Idempotency-Key": "~ !" + "x" * 252}
    )
    assert ok.status_code == 201


async def test_a_failed_request_frees_its_key_and_expired_keys_are_pruned(
    org: Org, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    day = timedelta(hours=24)
    k = await _key_id(sessionmaker, org)
    async with sessionmaker() as session:
        claimed = await repo.claim(session, org.id, k, "k", "a" * 64, timedelta(minutes=1), day)
        assert isinstance(claimed, repo.Claimed)
        assert isinstance(
            await repo.claim(session, org.id, k, "k", "a" * 64, timedelta(minutes=1), day),
            repo.InUse,
        )
        await repo.release(session, org.id, k, "k", "a" * 64)  # a 5xx: a retry runs for real
        assert isinstance(
            await repo.claim(session, org.id, k, "k", "a" * 64, timedelta(minutes=1), day),
            repo.Claimed,
        )
        assert await repo.complete(session, org.id, k, "k", "a" * 64, 201, {}, b"{}")
        replay = await repo.claim(session, org.id, k, "k", "a" * 64, timedelta(minutes=1), day)
        assert replay == repo.Replay(201, {}, b"{}")

        # An expired key is free again, for any request, and pruned.
        await repo.claim(session, org.id, k, "old", "b" * 64, timedelta(0), -day)
        await repo.claim(session, org.id, k, "older", "c" * 64, timedelta(0), -day)
        assert await repo.prune_expired(session) == 2
        remaining = await session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.organization_id == org.id)
        )
        assert list(remaining) == ["k"]
        reused = await repo.claim(session, org.id, k, "k", "d" * 64, timedelta(minutes=1), day)
        assert isinstance(reused, repo.Reused)


# Issue 22 item 3: idempotency after authorization, per API key.


async def test_a_replay_never_skips_the_role_check_in_either_direction(
    client: httpx.AsyncClient,
    client_for: ClientFor,
    org: Org,
    make_key: Callable[[Org, Role], Awaitable[str]],
) -> None:
    viewer_key = await make_key(org, Role.VIEWER)
    endpoint = await f.ok(
        await client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h"}), 201
    )
    creator = await f.creator(client)
    secret_writes = [
        ("/v1/api-keys", {"role": "admin", "name": "ops"}, "key"),
        (f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", None, "secret"),
        (f"/v1/creators/{creator['id']}/access-code", None, "access_code"),
    ]
    async with client_for(viewer_key) as viewer:
        # The admin first: the viewer replaying the admin's request gets the role check's
        # 403, never the secret the admin was shown.
        for path, body, secret_field in secret_writes:
            headers = key()
            first = await client.post(path, json=body, headers=headers)
            assert first.status_code in (200, 201), first.text
            assert first.json()[secret_field]
            stolen = await viewer.post(path, json=body, headers=headers)
            assert stolen.status_code == 403, stolen.text
            assert stolen.json()["code"] == "forbidden"
            assert "idempotent-replayed" not in stolen.headers
            assert first.json()[secret_field] not in stolen.text
            # The admin's own retry is still the replay.
            again = await client.post(path, json=body, headers=headers)
            assert again.headers["idempotent-replayed"] == "true"
            assert again.content == first.content

        # The viewer first: its 403 is not kept, so the admin's request with the same key
        # runs for real instead of replaying the refusal.
        headers = key()
        refused = await viewer.post("/v1/api-keys", json={"role": "editor"}, headers=headers)
        assert refused.status_code == 403
        made = await client.post("/v1/api-keys", json={"role": "editor"}, headers=headers)
        assert made.status_code == 201, made.text
        assert "idempotent-replayed" not in made.headers
        assert made.json()["key"].startswith("vl_")
        # And the viewer, asking again, is refused again, not handed the admin's answer.
        refused_again = await viewer.post("/v1/api-keys", json={"role": "editor"}, headers=headers)
        assert refused_again.status_code == 403
        assert made.json()["key"] not in refused_again.text

        # The role is checked before the Idempotency-Key is even looked at (a claim is taken
        # only for an authorized request): a malformed key is the viewer's 403, not a 422.
        bad_key = await viewer.post(
            "/v1/api-keys", json={"role": "editor"}, headers={"Idempotency-Key": "tab\there"}
        )
        assert (bad_key.status_code, bad_key.json()["code"]) == (403, "forbidden")


def test_answers_that_depend_on_the_caller_are_never_kept() -> None:
    statuses = (200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 503)
    assert [s for s in statuses if idempotency._stored(s)] == [200, 201, 204, 400, 404, 409]


async def test_another_api_key_with_the_same_idempotency_key_is_a_request_of_its_own(
    client: httpx.AsyncClient,
    client_for: ClientFor,
    org: Org,
    make_key: Callable[[Org, Role], Awaitable[str]],
) -> None:
    headers = key()
    ours = await f.ok(await client.post("/v1/campaigns", json={"name": "X"}, headers=headers), 201)
    async with client_for(await make_key(org, Role.ADMIN)) as colleague:
        theirs = await colleague.post("/v1/campaigns", json={"name": "X"}, headers=headers)
        assert theirs.status_code == 201, theirs.text
        assert "idempotent-replayed" not in theirs.headers
        assert theirs.json()["id"] != ours["id"]
        replay = await colleague.post("/v1/campaigns", json={"name": "X"}, headers=headers)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == theirs.json()["id"]
    # Another body under the same Idempotency-Key is no reuse for a third key either.
    async with client_for(await make_key(org, Role.EDITOR)) as third:
        other = await third.post("/v1/campaigns", json={"name": "Y"}, headers=headers)
        assert other.status_code == 201, other.text
    assert await _campaign_count(client) == 3


async def test_a_validation_failure_is_not_kept_so_the_corrected_request_runs(
    client: httpx.AsyncClient, org: Org, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await f.campaign(client)
    tiers = f"/v1/campaigns/{c['id']}/cpm-tiers"
    headers = key()
    bad = await client.post(tiers, json={"name": "T", "cpm": 4.5}, headers=headers)
    assert bad.status_code == 422
    async with sessionmaker() as session:
        kept = await session.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.key == headers["Idempotency-Key"])
        )
    assert kept == 0
    # The same key with the corrected body is not `idempotency_key_reused`: it runs.
    good = await client.post(tiers, json={"name": "T", "cpm": "4.50"}, headers=headers)
    assert good.status_code == 201, good.text
    assert "idempotent-replayed" not in good.headers
    again = await client.post(tiers, json={"name": "T", "cpm": "4.50"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"


async def test_the_fingerprint_is_the_parsed_json_not_its_spelling(
    client: httpx.AsyncClient,
) -> None:
    headers = {**key(), "content-type": "application/json"}
    first = await client.post(
        "/v1/campaigns", content=b'{"name":"Spelled","currency":"EUR"}', headers=headers
    )
    assert first.status_code == 201
    respelled = await client.post(
        "/v1/campaigns",
        content=b'{\n  "currency" : "EUR",\t"name": "Spelled"\n}\n',
        headers=headers,
    )
    assert respelled.status_code == 201
    assert respelled.headers["idempotent-replayed"] == "true"
    assert respelled.content == first.content
    # A different value is still another request.
    other = await client.post(
        "/v1/campaigns", content=b'{"currency":"USD","name":"Spelled"}', headers=headers
    )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert await _campaign_count(client) == 1


async def test_stored_answers_are_capped_in_size(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
) -> None:
    capped = settings.model_copy(update={"idempotency_max_stored_bytes": 64})
    app = create_app(capped, engine=engine, sessionmaker=sessionmaker)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {org.key}"},
        ) as client,
    ):
        # A 2xx over the cap: it ran, and must not run again; its replay says so, and
        # where the result is.
        headers = key()
        made = await client.post("/v1/campaigns", json={"name": "Big"}, headers=headers)
        assert made.status_code == 201
        assert len(made.content) > 64
        retry = await client.post("/v1/campaigns", json={"name": "Big"}, headers=headers)
        assert retry.status_code == 409
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["code"] == "idempotency_answer_not_kept"
        assert "201" in retry.json()["detail"]
        assert retry.headers["location"] == made.headers["location"]
        assert await _campaign_count(client) == 1

        # A 4xx over the cap is not kept at all: the retry is judged again.
        tiers = f"/v1/campaigns/{made.json()['id']}/cpm-tiers"
        await f.ok(await client.post(tiers, json={"name": "T", "cpm": "1.00"}), 201)
        headers = key()
        for _ in range(2):
            taken = await client.post(tiers, json={"name": "T", "cpm": "1.00"}, headers=headers)
            assert taken.status_code == 409
            assert len(taken.content) > 64
            assert taken.json()["code"] == "cpm_tier_exists"
            assert "idempotent-replayed" not in taken.headers

        # What is kept is the short notice, not the answer.
        async with sessionmaker() as session:
            kept = await session.scalar(
                select(IdempotencyKey.response_body).where(
                    IdempotencyKey.organization_id == org.id,
                    IdempotencyKey.key != headers["Idempotency-Key"],
                )
            )
        assert kept is not None
        assert b"idempotency_answer_not_kept" in kept
        assert made.json()["name"].encode() not in kept


async def test_a_body_nested_past_the_json_modules_depth_is_no_500(
    client: httpx.AsyncClient,
) -> None:
    """Bodies FastAPI does not parse (no body expected, or not sent as JSON) are still
    fingerprinted: one nested deeper than Python's recursion limit is compared as bytes."""
    deep = b"[" * 5000 + b"]" * 5000
    answers = [
        await client.post(
            f"/v1/payouts/{uuid.uuid4()}/cancel",
            content=deep,
            headers={**key(), "content-type": "application/json"},
        ),
        await client.post(
            "/v1/campaigns", content=deep, headers={**key(), "content-type": "text/plain"}
        ),
    ]
    assert [a.status_code for a in answers] == [404, 422], [a.text for a in answers]
