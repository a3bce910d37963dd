"""Time every statement an SQLAlchemy engine sends (round trip included), grouped by its text,
to show where a run's database time goes. Costs a couple of microseconds per statement."""

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementTimes:
    def __init__(self) -> None:
        self.by_sql: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.commits = [0, 0.0]

    def attach(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            conn.info["bench_t0"] = time.perf_counter()

        @event.listens_for(sync, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            entry = self.by_sql[_key(statement)]
            entry[0] += 1
            entry[1] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    def top(self, n: int = 12) -> list[tuple[str, int, float]]:
        rows = [(sql, int(c), t) for sql, (c, t) in self.by_sql.items()]
        return sorted(rows, key=lambda r: -r[2])[:n]


def _key(statement: str) -> str:
    return " ".join(statement.split())[:72]
