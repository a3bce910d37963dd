"""What the worker reports about itself: its metrics (provider metrics live in
app.platforms.metrics), served on WORKER_METRICS_PORT by app.workers.main, and its
heartbeat in Redis, which /health/ready reads."""

from prometheus_client import Counter, Gauge

HEARTBEATS = "viewledger:workers"  # sorted set: worker id -> unix time of its last beat

REFRESHED = Counter(
    "viewledger_refresh_outcomes_total",
    "Posts processed by the refresh engine, by platform and outcome.",
    ["platform", "outcome"],
)
REFRESH_LAG = Gauge(
    "viewledger_refresh_lag_seconds",
    "How overdue the most overdue due post is (0 when nothing is overdue).",
    ["platform"],
)
