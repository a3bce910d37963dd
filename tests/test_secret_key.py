"""SECRET_KEY in production (issue 22, item 5): live mode refuses to start with the public
development key or a short one, naming the setting; compose passes the operator's key."""

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.settings import DEVELOPMENT_SECRET_KEY, PROJECT_ROOT, ProviderMode, Settings

LIVE = {
    "tiktok_primary_base_url": "https://tikwm.com",
    "tiktok_backup_base_url": "https://tiktok-api23.p.rapidapi.com",
    "instagram_base_url": "https://api.scrapecreators.com",
    "tiktok_backup_api_key": "backup-secret",
    "instagram_api_key": "instagram-secret",
}
STRONG = "0123456789abcdef0123456789abcdef"  # exactly 32 bytes


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*LIVE, "provider_mode", "secret_key"]:
        monkeypatch.delenv(name.upper(), raising=False)


def _refused(**values: str) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize("key", [None, "", DEVELOPMENT_SECRET_KEY])
def test_live_refuses_the_development_key(key: str | None) -> None:
    message = _refused(**LIVE, **({} if key is None else {"secret_key": key}))
    assert "SECRET_KEY" in message
    assert "public development key" in message


def test_live_refuses_a_key_shorter_than_32_bytes_and_never_prints_it() -> None:
    message = _refused(**LIVE, secret_key=STRONG[:-1])
    assert "SECRET_KEY is too short" in message
    assert "32 bytes" in message
    assert STRONG[:-1] not in message
    live = Settings(_env_file=None, **LIVE, secret_key=STRONG)  # type: ignore[arg-type]
    assert live.provider_mode is ProviderMode.LIVE


def test_the_sandbox_still_starts_with_no_key() -> None:
    assert Settings(_env_file=None).secret_key == DEVELOPMENT_SECRET_KEY
    assert Settings(_env_file=None, secret_key="").secret_key == DEVELOPMENT_SECRET_KEY


def test_the_api_refuses_to_start_in_live_mode_without_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if k.lower() not in {*LIVE, "secret_key"}}
    env |= {name.upper(): value for name, value in LIVE.items()}
    started = subprocess.run(
        [sys.executable, "-c", "from app.main import create_app; create_app()"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "needs SECRET_KEY" in started.stderr


def test_compose_passes_the_secret_key_to_every_service() -> None:
    compose = (PROJECT_ROOT / "compose.yaml").read_text()
    shared, _, services = compose.partition("\nservices:")
    # The anchor every app service (migrate, sandbox, api, worker) is built from.
    assert "x-app: &app" in shared
    assert "    SECRET_KEY: ${SECRET_KEY:-}\n" in shared
    for name in ("migrate", "api", "worker"):
        block = services.split(f"\n  {name}:\n", 1)[1].split("\n\n", 1)[0]
        assert "<<: *app" in block, name
