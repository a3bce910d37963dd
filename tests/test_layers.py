"""The house's layering that a reader relies on to find things (issue 23): the write of a
batch of fetch results is one service step the workers call, not a plan the workers run
themselves; and the thresholds in force (domain/policy.py) hold no SQL, whose forms live in
domain/policy_sql.py."""

import ast
import re
from pathlib import Path

from app.settings import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
# What a fetched result calls for: steps of services/refresh_results.write alone (the
# deadline sweep, a job of its own, calls services/decisions as the write does).
WRITE_STEPS = {
    "app.services.authorship",
    "app.services.window_holds",
    "app.services.flag_checks",
    "app.services.run_presenter",
    "app.repositories.stats",
    "app.repositories.holds",
}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, `from app.x import y` read as both app.x and app.x.y."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_the_workers_hand_a_batch_of_results_to_one_service_step() -> None:
    taken = {
        str(path.relative_to(PROJECT_ROOT)): sorted(_imports(path) & WRITE_STEPS)
        for path in sorted((APP / "workers").glob("*.py"))
    }
    assert {file: steps for file, steps in taken.items() if steps} == {}
    assert "app.services.refresh_results" in _imports(APP / "workers" / "result_queue.py")


def test_the_policy_holds_values_and_its_sql_forms_live_apart() -> None:
    policy = _imports(APP / "domain" / "policy.py")
    assert not {m for m in policy if m.split(".")[0] == "sqlalchemy"}
    assert "app.domain.policy" in _imports(APP / "domain" / "policy_sql.py")


# What would tie the service to one server connection across transactions, which PgBouncer
# in transaction mode does not give (README "Behind PgBouncer"): session-level advisory
# locks (the `_xact_` ones end with their transaction), session-level SET (SET LOCAL and
# set_config(..., true) end with it), temporary tables, LISTEN, and server-side cursors
# held across transactions (WITH HOLD).
SESSION_STATE = re.compile(
    r"pg_(try_)?advisory_lock(_shared)?\b|func\.pg_(try_)?advisory_lock"
    r"|(?-i:(^|[\"';]\s*)SET\s+(SESSION\s+)?(?!LOCAL\b)[a-z_]+\s*(=|TO\b))"
    r"|\bCREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\s+TABLE"
    r"|(?-i:\bLISTEN\s+\w)|\.add_listener\(|(?-i:WITH\s+HOLD)",
    re.IGNORECASE,
)


def test_no_code_relies_on_session_state() -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}"
        for path in sorted(APP.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if SESSION_STATE.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
    # The pattern finds what it is meant to.
    for statement in (
        "SELECT pg_advisory_lock(42)",
        'await session.execute(text("SET statement_timeout = 0"))',
        "SET SESSION plan_cache_mode TO force_custom_plan",
        "CREATE TEMP TABLE t (id int)",
        "LISTEN posts_changed",
        "await conn.add_listener('x', callback)",
    ):
        assert SESSION_STATE.search(statement), statement
    for statement in (
        "SELECT pg_advisory_xact_lock(42)",
        '"SET LOCAL statement_timeout = 0"',
        "UPDATE posts SET flags = '{}'",
    ):
        assert not SESSION_STATE.search(statement), statement
