"""`Idempotency-Key` on every POST and PATCH under /v1, Stripe's way.

The key belongs to the API key that sent it (another API key's same `Idempotency-Key` is a
request of its own) and is kept `IDEMPOTENCY_KEY_TTL_HOURS` (24 h) with a fingerprint of the
request (method, path, query, and the body as parsed JSON, so key order and whitespace do not
matter; a body that is not JSON counts byte for byte):
- the same key with the same request replays the first answer's status, body and
  `Content-Type`/`Location`, with `Idempotent-Replayed: true`;
- the same key with another request answers 422 `idempotency_key_reused`;
- while the first request with the key runs, 409 `idempotency_key_in_use` (retry shortly).

The claim is taken (in its own committed transaction, so every API process sees it) once the
caller is authenticated, within its rate limit and authorized for the operation's role,
before the handler runs; the answer is stored just before it is sent. 2xx and 4xx answers
are stored, except 401, 403, 422 and 429: those depend on the caller's key, its budget or a
body the server refused to read, and a retry must be judged again. A 5xx or a failure frees
the key, since a retry may then succeed for real. A stored answer is at most
`IDEMPOTENCY_MAX_STORED_BYTES`: a larger 4xx is not stored (nothing was written); a larger
2xx keeps its key (it must not run twice) and is replayed as 409
`idempotency_answer_not_kept`, with the first answer's status and `Location`.
A process that dies mid-request leaves a claim whose lease (`IDEMPOTENCY_LEASE_SECONDS`)
lapses, after which the same request runs again. (Its writes, if they committed, are not
rolled back: the window is the time between the handler's commit and storing the answer.)

Expired keys are pruned opportunistically: about one claim in `_PRUNE_ONE_IN` also deletes
up to `_PRUNE_BATCH` expired keys (any organization's), after the claim and apart from it.
`app.repositories.idempotency.prune_expired` is there for a worker cron as well.
"""

import hashlib
import json
import logging
import random
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import request_context as context
from app.auth import Principal
from app.db import describe_database_error, session_scope
from app.errors import PROBLEM_JSON, ApiError, invalid, problem_response
from app.repositories import idempotency as repo

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# Printable ASCII; no space at either end, which HTTP would strip on the way.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
_KEY = re.compile(KEY_PATTERN)
METHODS = frozenset({"POST", "PATCH"})
PREFIX = "/v1/"
# What a replay repeats besides status and body; the rate limit and request id are fresh.
_KEPT_HEADERS = (b"content-type", b"location")
_PRUNE_ONE_IN = 50
_PRUNE_BATCH = 500
# Answers that depend on who asks, on the caller's budget, or on a body that was refused:
# a retry is judged afresh.
_NOT_STORED = frozenset({401, 403, 422, 429})
_BEGUN = "viewledger.idempotency_begun"


@dataclass(frozen=True)
class Claim:
    sessionmaker: async_sessionmaker[AsyncSession]
    organization_id: uuid.UUID
    api_key_id: uuid.UUID
    key: str
    fingerprint: str
    max_stored_bytes: int


class IdempotentReplay(Exception):
    def __init__(self, replay: repo.Replay) -> None:
        super().__init__("idempotent replay")
        self.replay = replay


_NOT_PARSED = object()


def canonical_body(body: bytes, parsed: object = _NOT_PARSED) -> bytes:
    """The body as it means, not as it is spelled: JSON (`parsed`, if the caller already has
    it) re-encoded with sorted keys and no whitespace; anything else as sent."""
    # Not JSON (nor UTF-8), or nested past what the json module recurses into: compared
    # byte for byte.
    try:
        if parsed is _NOT_PARSED:
            parsed = json.loads(body)
        return b"json:" + json.dumps(
            parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        return b"raw:" + body


def fingerprint(
    method: str, path: str, query: bytes, body: bytes, parsed: object = _NOT_PARSED
) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical_body(body, parsed)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def applies(method: str, path: str) -> bool:
    return method in METHODS and path.startswith(PREFIX)


async def begin(request: Request, principal: Principal) -> None:
    """Called once the caller is known, within its rate limit and allowed the operation's
    role. Returns when the request may run (with or without a key); raises the replay or the
    problem otherwise."""
    if request.scope.get(_BEGUN):  # an operation with two role checks claims once
        return
    request.scope[_BEGUN] = True
    key = request.headers.get(HEADER)
    if key is None or not applies(request.method, request.url.path):
        return
    if not _KEY.fullmatch(key):
        raise invalid(
            "idempotency_key_invalid",
            "Idempotency-Key must be 1 to 255 printable ASCII characters, with no space at "
            "either end.",
            "/header/Idempotency-Key",
        )
    body = await request.body()
    try:
        # Already parsed by FastAPI for a JSON body (Starlette keeps it on the request).
        parsed: object = await request.json()
    except (ValueError, RecursionError):
        parsed = _NOT_PARSED
    print_ = fingerprint(
        request.method, request.url.path, request.scope.get("query_string", b""), body, parsed
    )
    organization_id, api_key_id = principal.organization_id, principal.key_id
    settings = request.app.state.settings
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with session_scope(sessionmaker) as session:
        outcome = await repo.claim(
            session,
            organization_id,
            api_key_id,
            key,
            print_,
            lease=timedelta(seconds=settings.idempotency_lease_seconds),
            ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
        )
    if random.randrange(_PRUNE_ONE_IN) == 0:
        await _prune(sessionmaker)
    match outcome:
        case repo.Claimed():
            ctx = context.current()
            if ctx is not None:
                ctx.idempotency = Claim(
                    sessionmaker,
                    organization_id,
                    api_key_id,
                    key,
                    print_,
                    settings.idempotency_max_stored_bytes,
                )
        case repo.Replay():
            raise IdempotentReplay(outcome)
        case repo.Reused():
            raise ApiError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different request (method, path or body); "
                "use a new key for a new request.",
            )
        case repo.InUse():
            raise ApiError(
                409,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                headers={"Retry-After": "1"},
            )


async def _prune(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    try:
        async with session_scope(sessionmaker) as session:
            await repo.prune_expired(session, _PRUNE_BATCH)
    except Exception as exc:  # housekeeping never fails the request
        log.warning("could not prune idempotency keys: %s", describe_database_error(exc))


async def _replay(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    replay = exc.replay
    return Response(
        content=replay.body,
        status_code=replay.status_code,
        headers={**replay.headers, REPLAYED: "true"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)
    app.add_middleware(IdempotencyMiddleware)


def _stored(status: int) -> bool:
    # 409 in-use never holds a claim; 5xx may succeed on a retry.
    return 200 <= status < 300 or (400 <= status < 500 and status not in _NOT_STORED)


def _kept_answer(
    claim: Claim, status: int, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes] | None:
    """What to store for a storable answer: itself when it fits; for a 2xx over the cap, a
    409 saying the request ran (it must not run again); for a larger 4xx, nothing."""
    if len(body) <= claim.max_stored_bytes:
        return status, headers, body
    if not 200 <= status < 300:
        return None
    location = next((v for k, v in headers.items() if k.lower() == "location"), None)
    where = f" The created resource is at {location}." if location else ""
    problem = problem_response(
        409,
        "idempotency_answer_not_kept",
        f"The first request with this Idempotency-Key succeeded ({status}) and was not run "
        f"again, but its answer ({len(body)} bytes) was larger than the "
        f"{claim.max_stored_bytes} bytes kept for replay.{where}",
    )
    kept = {"content-type": PROBLEM_JSON, **({"location": location} if location else {})}
    return 409, kept, bytes(problem.body)


class IdempotencyMiddleware:
    """Holds back the answer of a request that claimed a key until it is stored, so a
    client that has the answer can rely on its replay."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        ctx = context.current()
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            claim: Claim | None = ctx.idempotency if ctx else None
            if claim is None:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            assert ctx is not None
            assert start is not None
            ctx.idempotency = None
            body = b"".join(chunks)
            await _settle(claim, start, body)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        try:
            await self.app(scope, receive, capture)
        except Exception:
            claim = ctx.idempotency if ctx else None
            if claim is not None and ctx is not None:
                ctx.idempotency = None
                await _settle(claim, None, b"")
            raise


async def _settle(claim: Claim, start: Message | None, body: bytes) -> None:
    try:
        async with session_scope(claim.sessionmaker) as session:
            kept = None
            if start is not None and _stored(start["status"]):
                headers = {
                    name.decode("latin-1"): value.decode("latin-1")
                    for name, value in start["headers"]
                    if name.lower() in _KEPT_HEADERS
                }
                kept = _kept_answer(claim, start["status"], headers, body)
            if kept is not None:
                await repo.complete(
                    session,
                    claim.organization_id,
                    claim.api_key_id,
                    claim.key,
                    claim.fingerprint,
                    *kept,
                )
            else:
                await repo.release(
                    session, claim.organization_id, claim.api_key_id, claim.key, claim.fingerprint
                )
    except Exception as exc:
        # The answer still goes out; the key stays claimed until its lease lapses.
        log.warning("could not store an idempotent answer: %s", describe_database_error(exc))
