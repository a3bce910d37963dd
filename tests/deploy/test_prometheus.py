"""deploy/prometheus and deploy/grafana against Prometheus itself (Debian's package, installed
by tests/system_packages.sh): the alert rules pass their `promtool test rules` cases, and a
real Prometheus scraping a running API and worker answers every dashboard panel's query with
data and evaluates every alert expression without error."""

import asyncio
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.platforms.sandbox.videos import start_of_day
from app.settings import PROJECT_ROOT, Settings
from tests.engine_kit import find_video, seed
from tests.processes import (
    api_server,
    free_port,
    sandbox_server,
    start_worker,
    stop,
    wait_for,
    worker_env,
)

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yaml"
DASHBOARD = json.loads((PROJECT_ROOT / "deploy" / "grafana" / "viewledger.json").read_text())
README = (PROJECT_ROOT / "README.md").read_text()


def _system_packages() -> None:
    script = PROJECT_ROOT / "tests" / "system_packages.sh"
    subprocess.run(["bash", str(script), "prometheus", "promtool"], check=True, timeout=900)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panels() -> list[dict[str, Any]]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def test_the_alert_rules_pass_their_promtool_tests() -> None:
    _system_packages()
    check = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in check.stdout
    done = subprocess.run(
        ["promtool", "test", "rules", str(PROMETHEUS_DIR / "alerts.test.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every alert has a case of its own.
    cases = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yaml").read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in alert_rules()}


def test_the_issue_s_alerts_are_all_there_each_with_a_runbook_line_in_the_readme() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert names == [
        "ViewLedgerCapacityShort",
        "ViewLedgerStalenessPastInterval",
        "ViewLedgerBreakerOpen",
        "ViewLedgerWorkerHeartbeatStale",
        "ViewLedgerWebhookBacklog",
        "ViewLedgerLateDecisions",
        "ViewLedgerApiErrors",
    ]
    runbook = README.split("### Alert runbook", 1)[1].split("\n#", 1)[0]
    for name in names:
        assert re.search(rf"^\| `{name}` \|.+\|.+\|$", runbook, re.M), name
    for rule in alert_rules():
        assert rule["annotations"]["runbook"] == f"README.md#alert-runbook ({rule['alert']})"


def test_the_dashboard_imports_with_its_data_source_as_an_input() -> None:
    (given,) = DASHBOARD["__inputs"]
    assert (given["name"], given["type"], given["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    # Provisioned rather than imported, ${DS_PROMETHEUS} is this variable: the default
    # Prometheus data source.
    (variable,) = DASHBOARD["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for panel in panels():
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == source for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    provisioning = PROJECT_ROOT / "deploy" / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "viewledger.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert (datasource["type"], datasource["isDefault"]) == ("prometheus", True)


@contextmanager
def prometheus(targets: dict[str, str], workdir: Path) -> Iterator[str]:
    """Prometheus scraping each job's one target every second, evaluating alerts.yaml every
    second, on a free port, its data in `workdir`."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/-/ready", 30)
        yield url
    finally:
        stop(proc)


async def query(client: httpx.AsyncClient, expr: str) -> list[Any]:
    answer = (await client.get("/api/v1/query", params={"query": expr})).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[Any] = answer["data"]["result"]
    return result


async def test_a_real_prometheus_scraping_the_api_and_worker_answers_every_panel_and_alert(
    committed: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    _system_packages()
    now = datetime.now(UTC)
    anchor = start_of_day(now)
    videos: list[tuple[Platform, str]] = []
    for platform, n in ((Platform.TIKTOK, 12), (Platform.INSTAGRAM, 2)):
        taken: list[str] = []
        for _ in range(n):
            recent = find_video(
                platform, anchor, lambda v: (now - v.created_at).days < 25, skip=taken
            )
            taken.append(recent)
            videos.append((platform, recent))
    await seed(committed, videos, now)

    with sandbox_server() as sandbox, tempfile.TemporaryDirectory() as tmp:
        env = worker_env(settings, sandbox, instagram_request_spacing_seconds=0.2)
        worker = start_worker(env)
        try:
            # Generous bounds for a busy machine: they only bound a failure (the API is up
            # in seconds, and every panel answers seconds after both targets are).
            with api_server(env, start_timeout=240) as api:
                targets = {
                    "viewledger-api": api.removeprefix("http://"),
                    "viewledger-worker": f"127.0.0.1:{env['WORKER_METRICS_PORT']}",
                }
                with prometheus(targets, Path(tmp)) as url:
                    async with httpx.AsyncClient(base_url=url) as prom:
                        missing = await _wait_for_every_panel(prom, api)
                        rules = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
                        evaluations = [await query(prom, rule["expr"]) for rule in alert_rules()]
        finally:
            stop(worker)

    assert missing == []
    # Every alert expression evaluates on the real series (an empty answer is "not firing"),
    # and those about a healthy deployment's own state are quiet on this one.
    firing = {
        rule["alert"] for rule, found in zip(alert_rules(), evaluations, strict=True) if found
    }
    healthy = {
        "ViewLedgerWorkerHeartbeatStale",
        "ViewLedgerBreakerOpen",
        "ViewLedgerWebhookBacklog",
        "ViewLedgerApiErrors",
    }
    assert firing & healthy == set()
    (group,) = rules
    assert [(r["name"], r["health"]) for r in group["rules"]] == [
        (rule["alert"], "ok") for rule in alert_rules()
    ]


# Counters start at 0 (so every panel answers from the first scrape): an answer proves
# nothing for them. These the run below moves (API traffic including a 401 and a 404, the
# worker's fetches through the sandbox), so each must be past 0.
EXERCISED_COUNTERS = (
    "viewledger_http_requests_total",
    'viewledger_http_requests_total{status_class="4xx"}',
    "viewledger_fetches_total",
    "viewledger_lane_fetches_total",
    "viewledger_refresh_outcomes_total",
)


def test_the_exercised_counters_are_the_dashboard_s() -> None:
    expressions = " ".join(t["expr"] for panel in panels() for t in panel["targets"])
    for counter in EXERCISED_COUNTERS:
        assert counter.split("{")[0] in expressions, counter


async def _wait_for_every_panel(
    prom: httpx.AsyncClient, api: str, within: float = 240
) -> list[str]:
    """The panels whose queries still return nothing, and the exercised counters still at 0,
    when every target is up and each panel had its chance (rates need two scrapes; the
    worker's series come with its first fetches and heartbeat). API traffic of each kind is
    sent as it waits: answers, a 401 and a 404."""
    deadline = time.monotonic() + within
    missing: list[str] = []
    async with httpx.AsyncClient(base_url=api) as client:
        while time.monotonic() < deadline:
            for path in ("/health/ready", "/v1/me", "/no-such-page"):
                await client.get(path)
            up = await query(prom, "up == 1")
            missing = [
                f"{panel['title']}: {target['expr']}"
                for panel in panels()
                for target in panel["targets"]
                if not await query(prom, target["expr"])
            ] + [
                f"{counter} still 0"
                for counter in EXERCISED_COUNTERS
                if not await query(prom, f"sum({counter}) > 0")
            ]
            if len(up) == 2 and not missing:
                return []
            await asyncio.sleep(1)
    return missing
