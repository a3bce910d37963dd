"""Every benchmark runs, as documented, at a smoke size: seconds each, figures printed and not
asserted (a benchmark never passes or fails on time), only that it ran to its JSON line with
the work done. So a benchmark cannot rot between recorded runs (issue 24, item 3).

Each run gets its own databases (the benchmark's names plus a suffix naming this test
database: never the test databases, never a recorded run's), this test process's Redis
database (flushed by the tests anyway) and free ports."""

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import make_url

from app.settings import PROJECT_ROOT, Settings

TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def bench_env(settings: Settings) -> dict[str, str]:
    test_db = make_url(settings.database_url).database
    return {
        **os.environ,
        "BENCH_DATABASE_URL": settings.database_url,
        "BENCH_DATABASE_SUFFIX": f"_smoke_{test_db}",
        "BENCH_REDIS_URL": settings.redis_url,
    }


def _run(module: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    print(done.stdout)  # the figures, for whoever reads the test's output
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_bench_refresh_smoke(bench_env: dict[str, str]) -> None:
    figures = _run(
        "bench.refresh",
        [
            "--posts", "20",
            "--latency-ms", "5",
            "--pipeline-posts", "300",
            "--rss-sizes", "300",
            "--quiet-wait", "0",
            "--sandbox-port", str(_free_port()),
        ],
        bench_env,
    )  # fmt: skip
    assert figures["pipeline_posts"] == 300
    assert figures["pipeline_posts_per_s"] > 0


def test_bench_api_smoke(bench_env: dict[str, str]) -> None:
    subprocess.run(["bash", str(PROJECT_ROOT / "tests" / "system_packages.sh"), "wrk"], check=True)
    figures = _run(
        "bench.api",
        [
            "--organizations", "2",
            "--campaigns-per-org", "2",
            "--posts-per-campaign", "1000",
            "--snapshots-per-post", "2",
            "--duration", "1",
            "--warmup", "0",
            "--concurrency", "2",
            "--workers", "1",
            "--quiet-wait", "0",
            "--port", str(_free_port()),
            "--baseline-port", str(_free_port()),
            "--layer-requests", "20",
            "--layer-rounds", "1",
        ],
        bench_env,
    )  # fmt: skip
    # Every request answered (none refused by the rate limits, which are on), every scenario
    # and the baseline measured; how fast is not asserted.
    assert figures["errors"] == 0
    for name in ("list_first", "list_deep", "post_get", "analytics", "post_create"):
        assert figures[name]["c2"]["rps"] > 0, name
    assert figures["baseline_list_first"]["c2"]["rps"] > 0
    assert figures["baseline_same_json"] is True  # the baseline answers what the API answers
    assert figures["rate_limit_per_second"] > 0
    assert "RequestIdMiddleware" in figures["layers_us_per_request"]["layers"]


def test_bench_dashboard_smoke(bench_env: dict[str, str]) -> None:
    from bench.dashboard import SCENARIOS

    subprocess.run(["bash", str(PROJECT_ROOT / "tests" / "system_packages.sh"), "wrk"], check=True)
    shape = [
        "--organizations", "2",
        "--campaigns-per-org", "2",
        "--posts-per-campaign", "1000",
        "--snapshots-per-post", "2",
    ]  # fmt: skip
    figures = _run(
        "bench.dashboard",
        [
            *shape,
            "--duration", "1",
            "--warmup", "0",
            "--concurrency", "2",
            "--workers", "1",
            "--quiet-wait", "0",
            "--port", str(_free_port()),
            "--rounds", "2",
        ],
        bench_env,
    )  # fmt: skip
    assert figures["rounds"] == 2
    # Every page and its API twin answered, signed in (the benchmark stops when a page sends
    # the browser to sign in); how fast is not asserted.
    for name in SCENARIOS:
        for side in ("page", "api"):
            assert figures[name][side]["c2"]["rps"] > 0, (name, side)
            assert figures[name][side]["c2"]["errors"] == 0, (name, side)
    # Its in-process companion (payments aside by default), on the database just seeded:
    # each page's CPU and statements.
    cpu = _run("bench.dashboard_cpu", [*shape, "--requests", "5", "--rounds", "1"], bench_env)
    assert set(cpu) == set(SCENARIOS) - {"payments"}
    for name, row in cpu.items():
        assert row["page_us"] > 0, name
        assert row["page_statements"] >= 1, name


def test_bench_dashboard_takes_each_sides_median_round_and_the_median_ratio() -> None:
    from bench.dashboard import _medians
    from bench.load import LoadResult

    def run(p99: float, spread: tuple[int, int] = (5, 5)) -> list[LoadResult]:
        return [LoadResult(10, 100, 1.0, 100.0, p99 / 2, p99, p99, p99, p99, 0, {}, {}, [*spread])]

    # The twin drifts from round to round; each ratio pairs two runs seconds apart.
    rounds = [(run(60.0), run(30.0)), (run(90.0), run(60.0)), (run(40.0), run(50.0))]
    medians = _medians(rounds, workers=2)
    assert [r.p99_ms for r in medians.page] == [60.0]
    assert [r.p99_ms for r in medians.api] == [50.0]
    assert medians.ratios == [1.5]  # of 2.0, 1.5 and 0.8 (not 60 / 50)
    # A twin run whose connections all landed on one worker measured one core: left out.
    # Four rounds of the page: the upper median, as the ratio's.
    rounds.append((run(45.0), run(20.0, spread=(10, 0))))
    medians = _medians(rounds, workers=2)
    assert [r.p99_ms for r in medians.page] == [60.0]
    assert [r.p99_ms for r in medians.api] == [50.0]
    assert medians.ratios == [1.5]
    # A side's errors are every round's, not only its median round's.
    failed = run(70.0)
    failed[0].errors = 3
    medians = _medians([*rounds, (failed, run(40.0))], workers=2)
    assert [r.p99_ms for r in medians.page] == [60.0]
    assert [r.errors for r in medians.page] == [3]


def test_bench_freshness_smoke(bench_env: dict[str, str]) -> None:
    figures = _run(
        "bench.freshness",
        [
            "--posts", "200",
            "--hours", "0.1",
            "--sample-hours", "0.05",
            "--speed", "60",
            "--scenarios", "sized",
            "--compare-processes", "1,2",
        ],
        bench_env,
    )  # fmt: skip
    # One engine process, then two sharing the database and Redis as two workers do.
    assert figures["processes"] == [1, 2]
    for processes, sized in (
        (1, figures["scenarios"]["sized"]),
        (2, figures["compared"]["2"]["sized"]),
    ):
        assert "error" not in sized, sized
        assert sized["processes"] == processes
        assert len(sized["peak_rss_mb_per_process"]) == processes
        assert sized["requests"] > 0
