"""Prometheus metrics for provider calls, on the default registry the worker exposes.

`provider` is the StatsSource that answered (primary, backup, instagram); `outcome` is `ok`,
`skipped` or a FetchErrorKind value.
"""

from prometheus_client import Counter, Gauge, Histogram

from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, Skipped

PROVIDER_REQUESTS = Counter(
    "viewledger_provider_requests_total",
    "Requests sent to a stats provider, retries included, by how each one went.",
    ["provider", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "viewledger_provider_request_seconds",
    "Time for one provider request, from sending to a parsed answer or giving up.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 45.0),
)
FETCHES = Counter(
    "viewledger_fetches_total",
    "Videos fetched (one per fetch call, after retries and fallback), by the provider whose "
    "answer was reported and the outcome.",
    ["provider", "outcome"],
)
FALLBACKS = Counter(
    "viewledger_fallbacks_total",
    "Times the TikTok backup was asked instead of or after the primary, by why.",
    ["reason"],
)
# Why app.platforms.tiktok asks the backup: its primary's breaker is open, or the primary
# failed with a kind of error.
FALLBACK_BREAKER_OPEN = "breaker_open"


def fallback_after(kind: FetchErrorKind) -> str:
    return f"primary_{kind}"


# Every reason exists from the start (at 0), so a dashboard's rate and an alert see none
# rather than nothing.
for _reason in [FALLBACK_BREAKER_OPEN, *map(fallback_after, FetchErrorKind)]:
    FALLBACKS.labels(_reason)
BREAKER_STATE = Gauge(
    "viewledger_breaker_state",
    "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
    ["breaker"],
)


def outcome(result: FetchResult) -> str:
    match result:
        case Skipped():
            return "skipped"
        case FetchError(kind=kind):
            return kind.value
        case _:  # stats, an account listing's page, a page of YouTube channels' handles
            return "ok"


def observe_request(result: FetchResult, seconds: float) -> None:
    PROVIDER_REQUESTS.labels(result.source.value, outcome(result)).inc()
    PROVIDER_LATENCY.labels(result.source.value).observe(seconds)


def observe_fetch(result: FetchResult) -> FetchResult:
    FETCHES.labels(result.source.value, outcome(result)).inc()
    return result
