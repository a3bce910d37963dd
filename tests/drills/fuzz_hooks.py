"""Schemathesis hooks for drill 7 (loaded through SCHEMATHESIS_HOOKS).

- Idempotency keys: the fuzzer draws header values from a small space, so two different
  requests would often share a key, and the second would rightly answer 422
  `idempotency_key_reused` for valid data. Each valid key it generated is replaced with a
  fresh one; a key that breaks the schema is kept, so the server is still seen refusing it.
- Cursors are opaque: a string the schema allows is still not a cursor this API issued (422
  `invalid_cursor`, tested in tests/test_contract.py). A valid-looking cursor is left out of
  a case that is meant to be valid; a malformed one is kept for the negative checks.
"""

import re
import uuid
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

from app.idempotency import HEADER, KEY_PATTERN

_VALID_KEY = re.compile(KEY_PATTERN)
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    headers = case.headers or {}
    for name in list(headers):
        value = headers[name]
        if (
            name.lower() == HEADER.lower()
            and isinstance(value, str)
            and _VALID_KEY.fullmatch(value)
        ):
            headers[name] = f"fuzz-{uuid.uuid4()}"
    query = case.query or {}
    cursor = query.get("cursor")
    negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if isinstance(cursor, str) and _CURSOR.fullmatch(cursor) and not negative:
        del query["cursor"]
