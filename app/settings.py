"""Every setting is an environment variable with a default that works on a fresh machine."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_URL = "http://127.0.0.1:8900"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/viewledger"
    redis_url: str = "redis://127.0.0.1:6379/0"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    db_pool_size: int = 10
    db_max_overflow: int = 10

    # Providers. The defaults point at the sandbox that `make run` starts; production sets real ones.
    tiktok_primary_base_url: str = SANDBOX_URL
    tiktok_primary_api_key: str | None = None
    tiktok_backup_base_url: str = SANDBOX_URL
    tiktok_backup_api_key: str | None = None
    instagram_base_url: str = SANDBOX_URL
    instagram_api_key: str | None = None
    sandbox_port: int = 8900

    # Short links (vm.tiktok.com/X, instagram.com/share/...) are resolved by following redirects.
    shortlink_timeout_seconds: float = 5.0
    shortlink_max_hops: int = 5

    # Lifecycle thresholds (campaigns may override min views and finalize-after days).
    min_views: int = Field(1000, ge=0)
    finalize_after_days: int = Field(7, ge=0)
    refresh_window_days: int = Field(30, ge=1)
    active_refresh_interval_hours: float = Field(6, gt=0)
    finalized_refresh_interval_hours: float = Field(24, gt=0)

    # Pacing (holds across all worker processes).
    tiktok_batch_size: int = Field(10, ge=1)
    tiktok_batch_pause_seconds: float = Field(0.5, ge=0)
    instagram_request_spacing_seconds: float = Field(3.0, ge=0)

    worker_metrics_port: int = 9101


@lru_cache
def get_settings() -> Settings:
    return Settings()
