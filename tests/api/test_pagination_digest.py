"""A cursor is bound to its list's statement by a digest of the statement's SQL and values
(app/repositories/pagination.py). The digest comes from the compiled form of the statement's
shape, made once: compiling every list request's statement afresh was a tenth of the API's
CPU per request (issue 24, item 4)."""

import uuid
from typing import Any

import pytest
from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql

from app.models import Post
from app.repositories import pagination


def _fresh(stmt: Select[Any]) -> str:
    """The digest as compiling the statement afresh gives it (the definition)."""
    compiled = stmt.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return pagination.digest(str(compiled), sorted(compiled.params.items()))


def _list(campaign: uuid.UUID, status: str | None = None, views: int | None = None) -> Any:
    stmt = select(*Post.__table__.c).where(Post.campaign_id == campaign)
    if status is not None:
        stmt = stmt.where(Post.status == status)
    if views is not None:
        stmt = stmt.where(Post.views >= views)
    return stmt.order_by(Post.id.desc())


def test_the_digest_is_the_compiled_statements_whatever_its_values() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    statements = [
        _list(a),
        _list(b),
        _list(a, "tracking"),
        _list(a, "finalized"),
        _list(b, "finalized", 1000),
        _list(b, "finalized", 1001),
    ]
    for _ in range(2):  # first from a fresh compile, then from the kept one
        digests = [pagination.statement_digest(s) for s in statements]
        assert digests == [_fresh(s) for s in statements]
    assert len(set(digests)) == len(statements)  # other values, another list


def test_a_list_statement_is_compiled_once_per_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    compiles = 0
    original = Select.compile

    def counting(self: Select[Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal compiles
        compiles += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Select, "compile", counting)
    for _ in range(5):  # one list, five requests (five campaigns)
        pagination.statement_digest(
            select(Post.id).where(
                Post.campaign_id == uuid.uuid4(), Post.platform_post_id == "compiled-once"
            )
        )
    assert compiles <= 1
