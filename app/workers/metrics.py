"""The worker's own metrics; provider metrics live in app.platforms.metrics. Served on
WORKER_METRICS_PORT by app.workers.main."""

from prometheus_client import Counter, Gauge

TRANSITIONS = Counter(
    "viewledger_lifecycle_transitions_total",
    "Lifecycle transitions made by the worker, by the status entered.",
    ["to_status"],
)
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
