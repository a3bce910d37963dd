"""PROVIDER_MODE: sandbox with no base URL, live with all three and the keys live providers
need; anything in between refuses to start, naming what is missing."""

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.run import providers_line
from app.settings import PROJECT_ROOT, ProviderMode, Settings

URLS = {
    "tiktok_primary_base_url": "https://tikwm.com",
    "tiktok_backup_base_url": "https://tiktok-api23.p.rapidapi.com",
    "instagram_base_url": "https://api.scrapecreators.com",
}
KEYS = {
    "tiktok_backup_api_key": "backup-secret",
    "instagram_api_key": "instagram-secret",
    "secret_key": "a-production-secret-key-of-at-least-32-bytes",
}
PROVIDER_VARIABLES = [
    *(name.upper() for name in URLS),
    *(name.upper() for name in KEYS),
    "TIKTOK_PRIMARY_API_KEY",
    "PROVIDER_MODE",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def refused(**values: str) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    return str(caught.value)


def test_no_base_url_is_the_local_sandbox() -> None:
    settings = Settings()
    assert settings.provider_mode is ProviderMode.SANDBOX
    assert settings.tiktok_primary_base_url == settings.sandbox_url == "http://127.0.0.1:8900"
    assert settings.instagram_base_url == settings.sandbox_url
    assert settings.runs_local_sandbox()


def test_all_three_with_their_keys_is_live() -> None:
    settings = Settings(**URLS, **KEYS)  # type: ignore[arg-type]
    assert settings.provider_mode is ProviderMode.LIVE
    assert settings.tiktok_primary_base_url == URLS["tiktok_primary_base_url"]
    assert not settings.runs_local_sandbox()


@pytest.mark.parametrize("unset", [["instagram_base_url"], ["tiktok_backup_base_url"]])
@pytest.mark.parametrize("mode", [None, "sandbox", "live"])
def test_a_partial_configuration_is_refused_naming_what_is_missing(
    unset: list[str], mode: str | None
) -> None:
    values = {k: v for k, v in URLS.items() if k not in unset} | KEYS
    message = refused(**values, **({"provider_mode": mode} if mode else {}))
    given, _, missing = message.partition(" set but ")
    assert [name.upper() in missing for name in URLS] == [name in unset for name in URLS]
    assert "TIKTOK_PRIMARY_BASE_URL" in given


def test_only_one_url_is_refused_too() -> None:
    message = refused(tiktok_primary_base_url=URLS["tiktok_primary_base_url"])
    assert "TIKTOK_BACKUP_BASE_URL, INSTAGRAM_BASE_URL not" in message


def test_live_needs_the_backup_and_instagram_keys_but_not_tikwm_s() -> None:
    message = refused(**URLS)
    assert "PROVIDER_MODE=live needs TIKTOK_BACKUP_API_KEY, INSTAGRAM_API_KEY" in message
    assert "TIKTOK_PRIMARY_API_KEY" not in message
    message = refused(**URLS, tiktok_backup_api_key="backup-secret")
    assert "needs INSTAGRAM_API_KEY" in message
    assert "backup-secret" not in message  # keys never reach an error message


def test_live_without_urls_names_every_url() -> None:
    message = refused(provider_mode="live")
    assert "TIKTOK_PRIMARY_BASE_URL, TIKTOK_BACKUP_BASE_URL, INSTAGRAM_BASE_URL" in message


def test_an_explicit_sandbox_may_live_elsewhere() -> None:
    elsewhere = "http://127.0.0.1:9555"
    settings = Settings(
        provider_mode="sandbox",
        tiktok_primary_base_url=elsewhere,
        tiktok_backup_base_url=elsewhere,
        instagram_base_url=elsewhere,
    )
    assert settings.provider_mode is ProviderMode.SANDBOX
    assert not settings.runs_local_sandbox()  # someone else serves it
    compose = Settings(sandbox_host="sandbox")
    assert compose.instagram_base_url == "http://sandbox:8900"


def test_the_mode_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (URLS | KEYS).items():
        monkeypatch.setenv(name.upper(), value)
    assert Settings().provider_mode is ProviderMode.LIVE
    monkeypatch.delenv("INSTAGRAM_BASE_URL")
    with pytest.raises(ValidationError, match="INSTAGRAM_BASE_URL not"):
        Settings()


def test_make_run_refuses_to_start_on_a_partial_configuration() -> None:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
    env["TIKTOK_PRIMARY_BASE_URL"] = URLS["tiktok_primary_base_url"]
    run = subprocess.run(
        [sys.executable, "-m", "app.run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "TIKTOK_BACKUP_BASE_URL, INSTAGRAM_BASE_URL not" in run.stderr
    assert "ViewLedger is starting" not in run.stdout


def test_the_banner_says_the_mode_and_never_the_keys() -> None:
    assert providers_line(Settings()).startswith("sandbox (synthetic stats from ")
    live = providers_line(Settings(**URLS, **KEYS))  # type: ignore[arg-type]
    assert live == "live (api.scrapecreators.com, tiktok-api23.p.rapidapi.com, tikwm.com)"
    assert "secret" not in live
