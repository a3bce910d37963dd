"""What `/health/ready` says of the stats providers: the mode they run in and, as the worker
last published it, each provider's lanes and its capacity against the schedule's demand.
The readiness check (app/routers/ops.py) and the dashboard's settings read it here."""

import asyncio
import functools
import json
from collections.abc import Collection
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from redis.asyncio import Redis

from app.settings import PROJECT_ROOT, Settings

CHECK_TIMEOUT_SECONDS = 2.0
# A worker heartbeat older than this many HEARTBEAT_SECONDS is stale (readiness warns; the
# heartbeat alert in deploy/prometheus/alerts.yaml adds a scrape interval to it).
HEARTBEAT_STALE_BEATS = 3
# Where the worker publishes its figures (app/workers/capacity.py), for as long as they hold.
CAPACITY_KEY = "viewledger:capacity"  # JSON: {"at": unix time, "providers": {...}}


@functools.cache
def migration_head() -> str:
    """The revision this code's migrations end at."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


@functools.cache
def migration_revisions() -> frozenset[str]:
    """Every revision this code's migration scripts know. A database at a revision outside
    them has been migrated by a later release (see migration_gap)."""
    return frozenset(s.revision for s in _scripts().walk_revisions())


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))


def migration_gap(current: str | None, head: str, known: Collection[str]) -> str | None:
    """Why this code cannot yet run on a database at revision `current`, or None when it can:
    at its head, or *ahead* of it, at a revision its migration scripts do not know. Ahead is
    a later release's migration (additive, so this code still works on it): while that
    release rolls out, the old API pods stay ready until the new ones replace them, and after
    a rollback (`kubectl rollout undo`) the old code serves and its workers start at once.
    Behind (a revision it knows, before its head) or no revision at all: not yet."""
    if current == head or (current is not None and current not in known):
        return None
    return f"database at {current or 'no revision'}, code expects {head}"


def providers(settings: Settings) -> dict[str, Any]:
    """Informational: sandbox mode is a valid way to run (demos, tests), so it passes."""
    mode = settings.provider_mode
    return {"status": "pass", "observedValue": mode.value, "componentType": "component"}


async def capacity(redis: Redis) -> dict[str, Any]:
    """Demand against capacity per provider, as the worker last published it (see
    app/workers/capacity.py): `warn` when the schedule needs more fetches per hour than the
    provider's lanes can do (add keys: see the README)."""
    try:
        raw = await asyncio.wait_for(redis.get(CAPACITY_KEY), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return {"status": "warn", "output": f"cannot read capacity: {type(exc).__name__}"}
    if raw is None:
        return {"status": "pass", "output": "no capacity figures published yet"}
    published = json.loads(raw)["providers"]
    observed = {name: _observed(p) for name, p in published.items()}
    result: dict[str, Any] = {"componentType": "component", "observedValue": observed}
    short = [
        _shortfall(name, p)
        for name, p in published.items()
        if p["needed_per_hour"] > p["available_per_hour"]
    ]
    # A quota spent on every key: nothing of that provider refreshes until the reset.
    short += [
        f"{name}: every key's daily quota is spent until {p['resets_at']} (posts wait for it)"
        for name, p in published.items()
        if p.get("needed_units_per_day") is not None
        and p["lanes"] - p["parked_lanes"] > 0
        and p.get("exhausted_lanes", 0) >= p["lanes"] - p["parked_lanes"]
    ]
    if short:
        return {"status": "warn", **result, "output": "; ".join(short) + ": add provider keys"}
    return {"status": "pass", **result}


def _observed(p: dict[str, Any]) -> dict[str, Any]:
    seen = {
        "needed_per_hour": round(p["needed_per_hour"]),
        "available_per_hour": round(p["available_per_hour"]),
        "lanes": p["lanes"],
        "parked_lanes": p["parked_lanes"],
        # Of what is needed: account listings of watched accounts (issue 29).
        "listings_per_hour": round(p.get("listings_per_hour", 0)),
    }
    if p.get("needed_units_per_day") is not None:  # YouTube: its budget is quota units
        seen |= {
            "needed_units_per_day": round(p["needed_units_per_day"]),
            "available_units_per_day": round(p["available_units_per_day"]),
            "units_left_today": p["units_left_today"],
            "quota_spent_lanes": p["exhausted_lanes"],
            "quota_resets_at": p["resets_at"],
        }
    return seen


def _shortfall(name: str, p: dict[str, Any]) -> str:
    if p.get("needed_units_per_day") is not None:
        return (
            f"{name} needs {p['needed_units_per_day']:,.0f} quota units/day, its keys have "
            f"{p['available_units_per_day']:,.0f}"
        )
    return (
        f"{name} needs {p['needed_per_hour']:,.0f} fetches/h, its lanes do "
        f"{p['available_per_hour']:,.0f}"
    )
