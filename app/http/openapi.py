"""What the edge adds to every operation, written into the OpenAPI document in one place so
generated clients know it: request ids, rate limit headers and 429, the body limit's 413,
`Idempotency-Key` on writes, `Location` on 201."""

from typing import Any

from app.errors import PROBLEM_JSON
from app.idempotency import HEADER, KEY_PATTERN, PREFIX, REPLAYED, applies

_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_INT = {"type": "integer", "minimum": 0}

REQUEST_ID_HEADER = {
    "X-Request-Id": {
        "description": "The request's id: the caller's `X-Request-Id` if it sent a plain token "
        "of up to 128 characters, else a new one. Also in problem bodies and the logs.",
        "schema": {"type": "string"},
    }
}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {
        "description": "Requests this key may send at once (`API_RATE_BURST`); the allowance "
        "refills at `API_RATE_LIMIT_PER_SECOND`.",
        "schema": _INT,
    },
    "RateLimit-Remaining": {"description": "Requests left right now.", "schema": _INT},
    "RateLimit-Reset": {
        "description": "Seconds until the allowance is full again.",
        "schema": _INT,
    },
}
IDEMPOTENCY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Makes the write safe to retry: the same key with the same request within "
    "24 h replays the first answer (with `Idempotent-Replayed: true`) instead of running it "
    "again. Another request under a used key answers 422 `idempotency_key_reused`; while the "
    "first is still running, 409 `idempotency_key_in_use`. Keys are per organization.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
}
REPLAYED_HEADER = {
    REPLAYED: {
        "description": "Present on a replayed answer to a repeated `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
LOCATION_HEADER = {
    "Location": {
        "description": "The URL of the created resource.",
        "required": True,
        "schema": {"type": "string"},
    }
}


HEADERS: dict[str, dict[str, Any]] = {
    **REQUEST_ID_HEADER,
    **RATE_LIMIT_HEADERS,
    **REPLAYED_HEADER,
    **LOCATION_HEADER,
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": _INT},
}


def _refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": _PROBLEM}


def document_edge(spec: dict[str, Any]) -> dict[str, Any]:
    """Idempotent: FastAPI caches the document, and this may run on it more than once."""
    spec.setdefault("components", {}).setdefault("headers", {}).update(HEADERS)
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            authenticated = path.startswith(PREFIX)
            writes = applies(method.upper(), path)
            if authenticated:
                responses.setdefault(
                    "429",
                    _problem(
                        "Over the key's or the organization's rate limit; retry after "
                        "`Retry-After` seconds."
                    ),
                )
            if writes:
                responses.setdefault("413", _problem("The body is larger than the server accepts."))
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == HEADER for p in parameters):
                    parameters.append(IDEMPOTENCY_PARAMETER)
            for status, response in responses.items():
                headers = response.setdefault("headers", {})
                headers.update(_refs("X-Request-Id"))
                if authenticated:
                    headers.update(_refs(*RATE_LIMIT_HEADERS))
                if writes and status.startswith(("2", "4")) and status != "429":
                    headers.update(_refs(REPLAYED))
                if status == "201":
                    headers.update(_refs("Location"))
                if authenticated and (status in ("429", "503") or (writes and status == "409")):
                    headers.update(_refs("Retry-After"))
    return spec
