"""Every setting is an environment variable with a default that works on a fresh machine."""

import ipaddress
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ProviderMode(StrEnum):
    SANDBOX = "sandbox"  # synthetic stats from the sandbox provider
    LIVE = "live"  # the real providers


# The base URL settings, and the key each live provider cannot work without: tikwm serves
# anonymous requests (its free tier is per IP), while the RapidAPI-style TikTok backup and the
# Instagram API refuse requests without a key.
_BASE_URLS = ("tiktok_primary_base_url", "tiktok_backup_base_url", "instagram_base_url")
_LIVE_KEYS = ("tiktok_backup_api_key", "instagram_api_key")
# The public key `make run` and the tests use; live mode refuses it (and any shorter than
# SECRET_KEY_MIN_BYTES).
DEVELOPMENT_SECRET_KEY = "viewledger-development-only-secret-key-do-not-use-in-production"
SECRET_KEY_MIN_BYTES = 32


class DatabasePooler(StrEnum):
    NONE = "none"  # DATABASE_URL is PostgreSQL itself (or a session-mode pooler)
    # PgBouncer in transaction mode: a server connection is ours for one transaction only
    # (see app/db.py `connect_args` and the README's "Behind PgBouncer").
    PGBOUNCER = "pgbouncer"


class Settings(BaseSettings):
    # Inputs stay out of validation errors: they would print the API keys.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/viewledger"
    redis_url: str = "redis://127.0.0.1:6379/0"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    db_pool_size: int = 10
    # Overflow connections are opened and closed again under bursts (a few percent of the
    # API's CPU at concurrency 50), but with none, requests waiting for a connection are
    # served out of order by the pool's queue and the latency tail grows tenfold.
    db_max_overflow: int = 10
    # The service's own connections end a transaction left idle this long (PostgreSQL's
    # idle_in_transaction_session_timeout; 0: never). An open write holds the change feed
    # back, so this bounds how long one of ours can. Longer than any wait the code does
    # inside a transaction.
    db_idle_in_transaction_timeout_seconds: float = Field(60, ge=0)
    # The worker's connections make their cached plans again this often (DISCARD PLANS at
    # a transaction's start), so a plan made on an empty table is not kept while it grows
    # (see app/db.py `_replan_every`). 0: every transaction.
    db_writer_replan_seconds: float = Field(10, ge=0)
    # What DATABASE_URL points at. `pgbouncer`: PgBouncer in transaction pooling mode, where
    # consecutive transactions of one connection may run on different server connections:
    # nothing is prepared on a server connection for later, and session settings travel
    # with every transaction (README "Behind PgBouncer", app/db.py `connect_args`).
    database_pooler: DatabasePooler = DatabasePooler.NONE

    # Providers: all three base URLs or none (see PROVIDER_MODE below). None set means the
    # sandbox `make run` starts on SANDBOX_PORT; production sets real ones.
    tiktok_primary_base_url: str = ""
    tiktok_primary_api_key: str | None = None
    tiktok_backup_base_url: str = ""
    tiktok_backup_api_key: str | None = None
    instagram_base_url: str = ""
    instagram_api_key: str | None = None
    # YouTube (the YouTube Data API v3). Optional beside the three above: unset, it is
    # https://www.googleapis.com in live mode and the sandbox serving Instagram in sandbox
    # mode. Keys are YOUTUBE_API_KEY and/or YOUTUBE_API_KEYS (see Capacity); live mode with
    # none has no YouTube lane, and /health/ready says so once YouTube posts are due.
    youtube_base_url: str = ""
    youtube_api_key: str | None = None
    sandbox_port: int = 8900

    # How provider calls behave: one shared httpx client per process, bounded retries with
    # jittered exponential backoff, Retry-After honoured up to a cap, a deadline per video.
    http_timeout_seconds: float = Field(10.0, gt=0)
    http_max_connections: int = Field(50, ge=1)
    provider_max_attempts: int = Field(3, ge=1)
    provider_backoff_base_seconds: float = Field(0.5, ge=0)
    provider_backoff_max_seconds: float = Field(8.0, ge=0)
    provider_retry_after_cap_seconds: float = Field(30.0, ge=0)
    provider_deadline_seconds: float = Field(45.0, gt=0)
    # TikTok primary circuit breaker: after this many failures in a row, use the backup only
    # for the cool-down, then give the primary another chance.
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(60.0, ge=0)

    # Short links (vm.tiktok.com/X, instagram.com/share/...) are resolved by following redirects.
    # One time budget for all hops, and how many are followed at once per API process.
    shortlink_budget_seconds: float = Field(5.0, gt=0)
    shortlink_max_hops: int = Field(5, ge=1)
    shortlink_concurrency: int = Field(8, ge=1)

    # Lifecycle thresholds (campaigns may override min views and finalize-after days).
    min_views: int = Field(1000, ge=0)
    finalize_after_days: int = Field(7, ge=0)
    refresh_window_days: int = Field(30, ge=1)
    active_refresh_interval_hours: float = Field(6, gt=0)
    finalized_refresh_interval_hours: float = Field(24, gt=0)

    # Integrity (issue 13). A fetch whose views fall more than SUSPICIOUS_DROP_PERCENT below
    # the last known count is kept as a snapshot but applied only when a second answer,
    # fetched SUSPICIOUS_DROP_RECHECK_SECONDS later, confirms it. Flags: a finalized or paid
    # post more than VIEWS_DROPPED_PERCENT below its locked views; views grown SPIKE_FACTOR
    # times or more within SPIKE_WINDOW_HOURS, to at least SPIKE_MIN_VIEWS; at least
    # LOW_ENGAGEMENT_MIN_VIEWS views with (likes + comments) / views below LOW_ENGAGEMENT_RATIO.
    suspicious_drop_percent: Decimal = Field(Decimal(25), gt=0, le=100)
    suspicious_drop_recheck_seconds: float = Field(300, gt=0)
    views_dropped_percent: Decimal = Field(Decimal(20), gt=0, le=100)
    spike_factor: Decimal = Field(Decimal(10), gt=1)
    spike_window_hours: float = Field(24, gt=0)
    spike_min_views: int = Field(10_000, ge=0)
    low_engagement_ratio: Decimal = Field(Decimal("0.001"), ge=0)
    low_engagement_min_views: int = Field(10_000, ge=0)
    # Stats observed more than this after a post's deadline make a late decision: its event
    # and evidence say so, and why.
    late_stats_tolerance_minutes: float = Field(60, ge=0)
    # Raw provider answers of snapshots no decision or flag used are pruned after this.
    raw_answer_retention_days: float = Field(35, ge=0)

    # Pacing (holds across all worker processes). Each pause is timed from the previous
    # answer's arrival: TikTok's after a batch's last answer, Instagram's after each request's.
    tiktok_batch_size: int = Field(10, ge=1)
    tiktok_batch_pause_seconds: float = Field(0.5, ge=0)
    instagram_request_spacing_seconds: float = Field(3.0, ge=0)

    # The engine's claims and writes: how long a claim's lease holds (a claim takes about a
    # quarter of it at the provider's pace), how many results a write gathers (waiting at
    # most the linger for them) or may carry, how often a write is tried through an outage.
    claim_lease_seconds: float = Field(300, gt=0)
    write_batch_min: int = Field(200, ge=1)
    write_linger_seconds: float = Field(0.1, ge=0)
    write_batch_max: int = Field(1000, ge=1)
    write_attempts: int = Field(5, ge=1)
    failed_fetch_retry_seconds: float = Field(600, gt=0)
    # A tracking post past its deadline whose fetches keep failing is decided on its last
    # known stats after this long.
    decision_grace_hours: float = Field(24, ge=0)
    # How often the worker sweeps for due posts and deadlines, and beats its heartbeat.
    sweep_interval_seconds: int = Field(10, ge=1, le=60)
    heartbeat_seconds: float = Field(10, gt=0)
    # SIGTERM to exit, at most (README "Stopping and rollouts"). The worker stops claiming at
    # once; its jobs finish the fetch batch in flight, hand back every post claimed but not
    # fetched, and flush their queued writes. A job still running a few seconds before the
    # end (a delivery to a slow endpoint) is cancelled and hands its work back; at the end
    # the process exits whatever is left. Keep it below the orchestrator's kill deadline
    # (Kubernetes' terminationGracePeriodSeconds, 30 s by default).
    worker_stop_grace_seconds: float = Field(20, gt=0)

    # Watched accounts (issue 29): how often an account is listed, how many pages one check
    # reads at most, how long a private, missing or someone else's account waits at most
    # between checks as it backs off, how many watches a claim takes and its lease.
    watch_interval_hours: float = Field(6, gt=0)
    watch_max_pages: int = Field(10, ge=1, le=100)
    watch_backoff_max_hours: float = Field(7 * 24, gt=0)
    watch_claim_size: int = Field(10, ge=1, le=1000)
    watch_lease_seconds: float = Field(600, gt=0)
    watch_sweep_interval_seconds: int = Field(60, ge=1, le=60)

    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9101

    # Provider mode
    # `sandbox` or `live`. Unset, it follows the base URLs: none set -> `sandbox` (the local
    # sandbox on SANDBOX_PORT), all three set -> `live`. Setting only some is refused, whatever
    # the mode: a partial configuration never falls back to the sandbox. `live` also needs
    # TIKTOK_BACKUP_API_KEY and INSTAGRAM_API_KEY (tikwm needs no key). `sandbox` with all three
    # URLs set talks to a sandbox served elsewhere (tests, benchmarks).
    provider_mode: ProviderMode = ProviderMode.SANDBOX
    # A provider saying its quota is spent (tikwm's daily free limit) is not asked again for
    # this long; the TikTok backup answers meanwhile.
    provider_quota_cooldown_seconds: float = Field(900.0, gt=0)
    # The engine's clock (workers and the sandbox; app.clock). A soak runs it CLOCK_SPEED
    # times faster than the wall clock from CLOCK_ORIGIN, and may skew one process by
    # CLOCK_SKEW_SECONDS; only in sandbox mode: a live deployment runs on the wall clock.
    clock_speed: float = Field(1.0, gt=0)
    clock_origin: datetime | None = None
    clock_skew_seconds: float = 0.0
    # Where sandbox mode finds the sandbox when no base URL is set (compose: `sandbox`).
    sandbox_host: str = "127.0.0.1"

    # HTTP edge: per-key rate limit (GCRA in Redis, shared by every API process), the largest
    # request body, idempotency keys (kept this long; a running request's claim is a lease
    # so a crashed one frees its key), and the log format ("json" for JSON lines).
    api_rate_limit_per_second: float = Field(20, gt=0)
    api_rate_burst: int = Field(40, ge=1)
    # The organization-wide limit beside the per-key one: all of an organization's keys
    # share it, so more keys do not buy more budget.
    org_rate_limit_per_second: float = Field(50, gt=0)
    org_rate_burst: int = Field(100, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    idempotency_key_ttl_hours: float = Field(24, gt=0)
    idempotency_lease_seconds: float = Field(60, gt=0)
    # The largest answer kept for replay (a larger 2xx is replayed as a 409 saying so).
    idempotency_max_stored_bytes: int = Field(64 * 1024, ge=0)
    # Per organization: unrevoked API keys, webhook endpoints (409 past either).
    max_api_keys_per_org: int = Field(50, ge=1)
    max_webhook_endpoints_per_org: int = Field(20, ge=1)
    log_format: Literal["text", "json"] = "text"
    # Where clients reach the service (https://ledger.example.com), for the links it writes
    # into files that leave it (the payout CSV's evidence_url). Unset: those links are paths
    # (/v1/...). Never taken from a request's Host header, which whoever sends it chooses.
    public_base_url: str | None = Field(
        None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$", description="absolute http(s) URL"
    )

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.sandbox_host}:{self.sandbox_port}"

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: object) -> object:
        # Empty (PUBLIC_BASE_URL=) is unset; a trailing slash would double the paths' own.
        if isinstance(value, str):
            return value.rstrip("/") or None
        return value

    @model_validator(mode="after")
    def _resolve_provider_mode(self) -> Self:
        given = [name.upper() for name in _BASE_URLS if getattr(self, name)]
        missing = [name.upper() for name in _BASE_URLS if not getattr(self, name)]
        if given and missing:
            raise ValueError(
                f"{', '.join(given)} set but {', '.join(missing)} not: set all three provider "
                "base URLs (PROVIDER_MODE=live) or none (the sandbox); a partial configuration "
                "would mix real and synthetic stats"
            )
        if "provider_mode" not in self.model_fields_set:
            self.provider_mode = ProviderMode.LIVE if given else ProviderMode.SANDBOX
        if self.provider_mode is ProviderMode.LIVE:
            # A list of keys (INSTAGRAM_API_KEYS, ...: see Capacity) satisfies it too.
            missing += [
                name.upper()
                for name in _LIVE_KEYS
                if not getattr(self, name) and not _split_keys(getattr(self, f"{name}s"))
            ]
            if missing:
                raise ValueError(
                    f"PROVIDER_MODE=live needs {', '.join(missing)} (tikwm, the TikTok "
                    "primary, needs no key); unset PROVIDER_MODE and every base URL for the "
                    "sandbox"
                )
        for name in missing:
            setattr(self, name.lower(), self.sandbox_url)
        if not self.youtube_base_url:
            self.youtube_base_url = (
                "https://www.googleapis.com"
                if self.provider_mode is ProviderMode.LIVE
                else self.instagram_base_url
            )
        return self

    @model_validator(mode="after")
    def _simulated_clock_only_in_sandbox(self) -> Self:
        simulated = self.clock_speed != 1 or self.clock_skew_seconds != 0
        if simulated and self.provider_mode is not ProviderMode.SANDBOX:
            raise ValueError("CLOCK_SPEED and CLOCK_SKEW_SECONDS are for sandbox mode only")
        if self.clock_speed != 1 and self.clock_origin is None:
            raise ValueError("CLOCK_SPEED needs CLOCK_ORIGIN (the moment both clocks agree)")
        return self

    def runs_local_sandbox(self) -> bool:
        """Whether `make run` must start the sandbox: sandbox mode on the default URLs."""
        return self.provider_mode is ProviderMode.SANDBOX and any(
            getattr(self, name).rstrip("/") == self.sandbox_url for name in _BASE_URLS
        )

    # Webhooks. SECRET_KEY encrypts webhook signing secrets and Discord bot tokens at rest
    # and signs portal sessions. The default is a fixed, public development key so the
    # sandbox starts with no configuration (empty counts as unset); PROVIDER_MODE=live refuses
    # to start with it or with any key shorter than SECRET_KEY_MIN_BYTES (changing it makes
    # stored secrets unreadable: rotate them).
    secret_key: str = DEVELOPMENT_SECRET_KEY

    @model_validator(mode="after")
    def _secret_key_fit_for_live(self) -> Self:
        if not self.secret_key:
            self.secret_key = DEVELOPMENT_SECRET_KEY
        if self.provider_mode is not ProviderMode.LIVE:
            return self
        if self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise ValueError(
                "PROVIDER_MODE=live needs SECRET_KEY: the default is a public development key "
                "(anyone could decrypt the stored webhook secrets and bot tokens and sign "
                "portal sessions); set a random value of at least "
                f"{SECRET_KEY_MIN_BYTES} bytes, e.g. `openssl rand -hex 32`"
            )
        if len(self.secret_key.encode()) < SECRET_KEY_MIN_BYTES:
            raise ValueError(
                f"SECRET_KEY is too short for PROVIDER_MODE=live: at least "
                f"{SECRET_KEY_MIN_BYTES} bytes, e.g. `openssl rand -hex 32`"
            )
        return self

    webhook_timeout_seconds: float = Field(15.0, gt=0)
    # Delay before each retry (seven retries after the first attempt), each jittered by
    # +/- WEBHOOK_RETRY_JITTER; a 429 or 503 Retry-After longer than the step is honoured,
    # up to the cap.
    webhook_retry_schedule_seconds: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_retry_jitter: float = Field(0.1, ge=0, lt=1)
    webhook_retry_after_cap_seconds: float = Field(36000, ge=0)
    # An endpoint whose deliveries have all failed for this long is disabled.
    webhook_disable_after_failing_days: float = Field(5, gt=0)
    # After a rotation the old secret keeps signing (a second signature) for this long.
    webhook_secret_grace_hours: float = Field(24, ge=0)
    # Deliveries in flight per worker process, in all and to any one endpoint.
    webhook_concurrency: int = Field(20, ge=1)
    webhook_per_endpoint_concurrency: int = Field(4, ge=1)
    # ... and for any one organization: the rest of the slots stay free for the others, so
    # one tenant's slow endpoints cannot delay another's deliveries (claims also take
    # organizations in turns). A single-tenant deployment may raise it to the total.
    webhook_per_org_concurrency: int = Field(10, ge=1)
    # A claimed delivery's lease: longer than one attempt (the timeout), so a claim is never
    # sent twice while its worker lives; a crashed worker's claims are retried after it.
    webhook_lease_seconds: float = Field(60, gt=0)
    webhook_sweep_interval_seconds: int = Field(5, ge=1, le=60)
    webhook_response_body_limit: int = Field(1024, ge=0)
    # Events none of whose deliveries is pending, and whose last delivery finished longer ago
    # than this, are deleted with their deliveries and attempts by the worker's hourly prune.
    webhook_event_retention_days: float = Field(30, gt=0)
    # http:// and private, loopback or link-local receivers. Unset: allowed only when the
    # app runs in PROVIDER_MODE=sandbox; read it through app.webhooks.ssrf.allow_private_urls.
    webhook_allow_private_urls: bool | None = None

    @model_validator(mode="after")
    def _webhook_lease_outlasts_attempt(self) -> Self:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("WEBHOOK_LEASE_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS")
        return self

    # Capacity
    # Several credentials per provider, comma-separated: each is a lane with its own pacing
    # (the seed's pace per lane), so each key adds capacity. The single-key settings above
    # still work (one lane; with both set, their keys together); no key at all is one
    # keyless lane. TikTok's lanes are its primary keys; lane i falls back to backup key
    # i mod (number of backup keys).
    tiktok_primary_api_keys: str = ""
    tiktok_backup_api_keys: str = ""
    instagram_api_keys: str = ""
    # YouTube: each key is a lane whose budget is its daily quota in units (a videos.list
    # call of up to YOUTUBE_BATCH_SIZE ids costs 1 unit), reset at midnight Pacific time.
    # Below YOUTUBE_QUOTA_RESERVE_UNITS left, a lane refreshes only posts still tracking
    # (those near their 7-day deadline first), not finalized or paid ones; a spent quota waits
    # for the reset. Batches are YOUTUBE_BATCH_PAUSE_SECONDS apart.
    youtube_api_keys: str = ""
    youtube_daily_quota_units: int = Field(10_000, ge=1)
    youtube_quota_reserve_units: int = Field(1_000, ge=0)
    youtube_batch_size: int = Field(50, ge=1, le=50)
    youtube_batch_pause_seconds: float = Field(0.2, ge=0)
    # A YouTube creator's @handle is asked of channels.list (50 channels a unit, from the units
    # above the reserve) at most once per this many hours, so it follows renames.
    youtube_handle_check_hours: float = Field(24, ge=1)
    # A lane whose key the provider refuses (401/403) is parked this long, then tried again.
    lane_park_seconds: float = Field(600, gt=0)
    # For the capacity figures: how long a TikTok batch and an Instagram request take at the
    # provider (on top of the pause that follows each), how often the worker computes them,
    # and how many posts the staleness percentiles are taken over (a sample of the table).
    tiktok_batch_latency_seconds: float = Field(0.1, ge=0)
    instagram_request_latency_seconds: float = Field(0.1, ge=0)
    capacity_interval_seconds: float = Field(60, gt=0)
    capacity_sample_size: int = Field(20_000, ge=100)

    # Contract. The change feed (sort=updated_at) shows changes at least this old, and none
    # after the start of a write still open (see the README's "Change feed").
    change_feed_settle_seconds: float = Field(2.0, ge=0, le=300)
    # A post is fetched by refresh runs at most once per this many minutes (0: no limit);
    # more recent ones count as skipped_recent.
    forced_refresh_min_interval_minutes: float = Field(10, ge=0)
    # Unfinished on-demand runs an organization may have at once (409 too_many_runs).
    max_open_refresh_runs: int = Field(3, ge=1)
    # Finished runs, on-demand and scheduled, are deleted after this many days.
    refresh_run_retention_days: float = Field(30, gt=0)

    # Payouts and portal
    # A creator's portal session (a signed cookie) lasts this long; rotating the creator's
    # access code ends every session made with the old one sooner.
    portal_session_hours: float = Field(12, gt=0, le=24 * 30)
    # Access-code logins, per client address and per code (app.services.access_codes):
    # a burst of attempts, then this many a minute.
    portal_code_attempts_per_minute: float = Field(5, gt=0)
    portal_code_attempt_burst: int = Field(10, ge=1)
    # The session cookie's Secure flag. Unset: set when the request came over HTTPS (behind
    # a TLS-terminating proxy, run uvicorn with --proxy-headers, or set this to true).
    portal_cookie_secure: bool | None = None
    # Users (app.services.users): an invitation link lives this long, a reset link this long;
    # a session ends after this long unused or this long after sign-in, whichever is first.
    invitation_ttl_hours: float = Field(72, gt=0, le=24 * 30)
    password_reset_ttl_hours: float = Field(2, gt=0, le=24 * 7)
    session_idle_minutes: float = Field(30, gt=0)
    session_max_hours: float = Field(12, gt=0, le=24 * 30)
    # Sign-in attempts, per account and per client address: a burst, then this many a
    # minute (429 with Retry-After; the budget refills, so nobody can lock an account out).
    sign_in_attempts_per_minute: float = Field(5, gt=0)
    sign_in_attempt_burst: int = Field(10, ge=1)
    # The user session cookie's Secure flag; unset: set when the request came over HTTPS.
    session_cookie_secure: bool | None = None
    # Email (invitations, password resets): smtp://user:pass@host:port (STARTTLS when the
    # server offers it) or smtps://... (TLS from the start). Unset: no email is sent; links
    # are only answered to the admin. `make run` in sandbox mode points it at the sandbox's
    # SMTP sink (SANDBOX_SMTP_PORT; its mail is at GET :SANDBOX_PORT/__sandbox/mail).
    smtp_url: str | None = Field(None, pattern=r"^smtps?://[^\s]+$")
    mail_from: str = "ViewLedger <no-reply@viewledger.invalid>"
    sandbox_smtp_port: int = 8925
    # Posts one payout batch may hold (its lines are written in one statement).
    payout_max_posts: int = Field(10_000, ge=1)
    # The endpoints anyone may call (portal sign-in, Discord interactions) take small bodies
    # only, and each client address gets a budget of requests there (429 past it) before
    # anything reads the body; the access-code limits above come on top for sign-ins.
    portal_max_body_bytes: int = Field(4096, ge=256)
    portal_requests_per_minute: float = Field(60, gt=0)
    portal_request_burst: int = Field(20, ge=1)
    # The client address: the connecting one, or, when that is one of TRUSTED_PROXIES
    # (comma-separated addresses or networks, e.g. "10.0.0.0/8,127.0.0.1"), the last address
    # in X-Forwarded-For that is not a trusted proxy (X-Forwarded-Proto is then read too).
    # Empty: X-Forwarded-* are ignored, whoever sends them.
    trusted_proxies: str = ""

    def lane_keys(self, single: str | None, many: str) -> list[str | None]:
        """The credentials of one provider, one lane each: [None] when there is none."""
        keys = list(dict.fromkeys([*([single] if single else []), *_split_keys(many)]))
        return list(keys) or [None]

    # Discord and imports
    # The Discord API: empty means the real https://discord.com/api/v10 in live mode and the
    # sandbox's fake Discord (<sandbox>/discord/api/v10) in sandbox mode; read it through
    # `discord_api_url`. An interaction signed longer ago than the tolerance is refused (401),
    # so a captured request cannot be replayed later. /submit-post waits at most
    # DISCORD_FETCH_WAIT_SECONDS for the new post's first fetch before it answers without
    # views. /link attempts are limited per Discord user and per code.
    discord_api_base_url: str = ""
    discord_timestamp_tolerance_seconds: float = Field(300, gt=0)
    discord_http_timeout_seconds: float = Field(10, gt=0)
    discord_fetch_wait_seconds: float = Field(20, ge=0)
    discord_link_attempts_per_minute: float = Field(5, gt=0)
    discord_link_attempts_burst: int = Field(10, ge=1)
    # Interactions: the largest body, and each client address's budget (Discord sends from
    # a few addresses: keep it well above the bot's traffic).
    discord_max_body_bytes: int = Field(64 * 1024, ge=1024)
    discord_requests_per_second: float = Field(50, gt=0)
    discord_request_burst: int = Field(200, ge=1)
    # Bulk paste: lines handled per transaction (each chunk commits, so a killed worker loses
    # at most one chunk's work), and how long a worker's claim on an import lasts before the
    # sweep hands it to another worker.
    post_import_chunk_size: int = Field(50, ge=1, le=1000)
    post_import_lease_seconds: float = Field(120, gt=0)
    post_import_sweep_interval_seconds: int = Field(10, ge=1, le=60)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        # uvicorn takes anything else as a name that never matches: a mistyped entry, or the
        # prod overlay's placeholder left unfilled, would silently trust no proxy at all.
        for entry in _split_keys(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an address or network") from None
        return value

    def trusted_proxy_list(self) -> list[str]:
        return _split_keys(self.trusted_proxies)

    @property
    def discord_api_url(self) -> str:
        if self.discord_api_base_url:
            return self.discord_api_base_url.rstrip("/")
        if self.provider_mode is ProviderMode.LIVE:
            return "https://discord.com/api/v10"
        return f"{self.sandbox_url}/discord/api/v10"


def _split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
