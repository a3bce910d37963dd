"""Webhook delivery metrics, served with the worker's others on WORKER_METRICS_PORT."""

from prometheus_client import Counter, Gauge

DELIVERIES = Counter(
    "viewledger_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: succeeded (2xx), retrying (failed, another attempt "
    "is scheduled), failed (failed, no attempt left).",
    ["outcome"],
)
# Every outcome's series exists from the start (at 0): rates and alerts see none, not nothing.
for _outcome in ("succeeded", "retrying", "failed"):
    DELIVERIES.labels(_outcome)
OLDEST_UNDELIVERED = Gauge(
    "viewledger_webhook_oldest_undelivered_seconds",
    "Age of the oldest event still waiting for delivery to an enabled endpoint (0 when none); "
    "set by each delivery sweep.",
)
