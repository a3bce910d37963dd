"""The house's layering that a reader relies on to find things (issue 23): the write of a
batch of fetch results is one service step the workers call, not a plan the workers run
themselves; and the thresholds in force (domain/policy.py) hold no SQL, whose forms live in
domain/policy_sql.py."""

import ast
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
