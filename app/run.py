"""`make run`: prepare the database, then run the API, the worker and (in PROVIDER_MODE
`sandbox`, with no base URL set) the sandbox provider as child processes, stopping all if one
stops. The banner says which provider mode it runs in."""

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from app.cli import create_org, upgrade
from app.db import create_engine, create_sessionmaker, session_scope
from app.domain.enums import OrgRole
from app.repositories import api_keys
from app.repositories import users as users_repo
from app.services import users
from app.settings import PROJECT_ROOT, ProviderMode, Settings, get_settings

DEMO_FILE = PROJECT_ROOT / ".demo-key.json"


async def _key_works(settings: Settings, key: str) -> bool:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await api_keys.authenticate(session, key) is not None
    finally:
        await engine.dispose()


def demo_key(settings: Settings, path: Path = DEMO_FILE) -> tuple[str, bool]:
    """The demo organization's admin key, created on the first start and kept (mode 0600) in a
    git-ignored file so later starts can print it again. Returns (key, created_now)."""
    if path.exists():
        key = json.loads(path.read_text())["key"]
        if asyncio.run(_key_works(settings, key)):
            return key, False
    org_id, key = asyncio.run(create_org(settings, "Demo"))
    path.write_text(json.dumps({"organization_id": str(org_id), "key": key}))
    path.chmod(0o600)
    return key, True


DEMO_EMAIL = "admin@demo.viewledger.local"


async def _demo_user(settings: Settings, org_id: uuid.UUID, password: str) -> bool:
    """The demo organization's admin user, if missing (True if created now)."""
    engine = create_engine(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            if await users_repo.by_email(session, DEMO_EMAIL) is not None:
                return False
            await users.create_signed_up(
                session, settings, org_id, DEMO_EMAIL, "Demo admin", OrgRole.ADMIN, password
            )
            return True
    finally:
        await engine.dispose()


def demo_user(settings: Settings, path: Path = DEMO_FILE) -> tuple[str, str]:
    """The demo organization's admin user: its email and password, the password kept in the
    demo file beside the key (made on the first start after the key)."""
    saved = json.loads(path.read_text())
    password = saved.get("user_password") or secrets.token_urlsafe(12)
    if asyncio.run(_demo_user(settings, uuid.UUID(saved["organization_id"]), password)):
        saved["user_password"] = password
        path.write_text(json.dumps(saved))
        path.chmod(0o600)
    return DEMO_EMAIL, saved.get("user_password", password)


def providers_line(settings: Settings) -> str:
    """The banner's provider line: the mode, and where stats come from (never the keys)."""
    if settings.provider_mode is ProviderMode.LIVE:
        hosts = sorted(
            {
                httpx.URL(url).host
                for url in (
                    settings.tiktok_primary_base_url,
                    settings.tiktok_backup_base_url,
                    settings.instagram_base_url,
                )
            }
        )
        return f"live ({', '.join(hosts)})"
    where = settings.tiktok_primary_base_url.rstrip("/")
    return f"sandbox (synthetic stats from {where}; set all three base URLs for live)"


# On SIGTERM uvicorn closes its listening socket, lets the requests in flight finish for up
# to this many seconds (with no limit it would wait for them forever), then cancels what is
# left and runs the app's shutdown. uvicorn reads it from its own environment variable, so
# every way of starting the API honours it: `make run` and the tests' servers set this
# default when it is unset, and the image sets the same (Dockerfile ENV).
API_STOP_GRACE = ("UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN", "20")


def api_env(environ: dict[str, str]) -> dict[str, str]:
    """The API process's environment: `environ` with uvicorn's graceful-stop limit."""
    name, default = API_STOP_GRACE
    return {name: default, **environ}


def api_args(host: str, port: int) -> list[str]:
    """How the API is run (`make run`, the tests' servers; the Dockerfile's CMD says the
    same). --no-proxy-headers: uvicorn would otherwise take X-Forwarded-For from any local
    connection; the app reads it only from TRUSTED_PROXIES."""
    return [
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--no-proxy-headers",
    ]


def _start(
    name: str, args: list[str], env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    return name, subprocess.Popen(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env or os.environ.copy()
    )


def main() -> int:
    settings = get_settings()
    upgrade(settings)
    key, created = demo_key(settings)
    email, password = demo_user(settings)

    children = []
    if settings.runs_local_sandbox() and not settings.smtp_url:
        # Invitations and resets go to the sandbox's SMTP sink (GET :8900/__sandbox/mail).
        os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{settings.sandbox_smtp_port}"
    if settings.runs_local_sandbox():
        children.append(
            _start("sandbox", ["-m", "app.platforms.sandbox", "--port", str(settings.sandbox_port)])
        )
    if (PROJECT_ROOT / "app" / "workers" / "main.py").exists():
        children.append(_start("worker", ["-m", "app.workers.main"]))
    children.append(
        _start("api", api_args(settings.api_host, settings.api_port), api_env(dict(os.environ)))
    )
    base = f"http://{settings.api_host}:{settings.api_port}"
    print(
        f"\nViewLedger is starting: {', '.join(name for name, _ in children)}\n"
        f"  API docs:  {base}/docs\n"
        f"  Health:    {base}/health/ready\n"
        f"  Providers: {providers_line(settings)}\n"
        f"  Demo organization admin key{' (new)' if created else ''}:\n    {key}\n"
        f"  Try: curl -H 'Authorization: Bearer {key}' {base}/v1/me\n"
        f"  Demo admin user: {email} / {password}  (POST {base}/v1/session)\n",
        flush=True,
    )

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the rest", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.2)
    for _, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    # Each child stops within its own grace period (README "Stopping and rollouts").
    api_grace = float(api_env(dict(os.environ))[API_STOP_GRACE[0]])
    deadline = time.monotonic() + max(settings.worker_stop_grace_seconds, api_grace) + 5
    for _, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
