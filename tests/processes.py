"""Real processes for tests that need them: the sandbox server and worker processes."""

import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from app.run import api_args, api_env
from app.settings import PROJECT_ROOT, Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until `url` answers; `proc`, the process that serves it, must not exit meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Exited(f"{url}: its process exited ({proc.returncode})")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


def log_file(prefix: str) -> IO[bytes]:
    """Where a test's server or worker writes its log: a temporary file left behind, so a
    failed test's process can be read afterwards (a pipe nobody reads would block it)."""
    return tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False)


class Exited(RuntimeError):
    """A server's process ended before it answered."""


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def sandbox_server() -> Iterator[str]:
    """A sandbox on free ports, its log in a temporary file. `free_port` finds ports free
    when it looks, and another test's process can take one before the sandbox binds it (a
    drill starting two sandboxes failed once so, as far as anything showed): a sandbox that
    exits before it answers is started again on other ports."""
    for attempt in itertools.count(1):
        port = free_port()
        proc = subprocess.Popen(
            # Its SMTP sink on a free port too: sandboxes of tests run side by side.
            [
                sys.executable,
                "-m",
                "app.platforms.sandbox",
                "--port",
                str(port),
                "--smtp-port",
                str(free_port()),
            ],
            cwd=PROJECT_ROOT,
            stdout=log_file("sandbox-"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/__sandbox/faults", proc=proc)
            break
        except Exited:
            if attempt == 3:
                raise
        except BaseException:
            stop(proc)
            raise
    try:
        yield url
    finally:
        stop(proc)


def worker_env(settings: Settings, sandbox_url: str, **overrides: object) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "TIKTOK_PRIMARY_BASE_URL": sandbox_url,
        "TIKTOK_BACKUP_BASE_URL": sandbox_url,
        "INSTAGRAM_BASE_URL": sandbox_url,
        "PROVIDER_MODE": "sandbox",  # a sandbox on its own port, not the default one
        "SWEEP_INTERVAL_SECONDS": "1",
        "HEARTBEAT_SECONDS": "1",
        "WORKER_METRICS_PORT": str(free_port()),
        # Drills and the fuzzer send far more than a client's budget with one key; a drill
        # of the rate limit itself sets its own.
        "API_RATE_LIMIT_PER_SECOND": "1000",
        "API_RATE_BURST": "100000",
        "ORG_RATE_LIMIT_PER_SECOND": "1000",
        "ORG_RATE_BURST": "100000",
        "PORTAL_REQUEST_BURST": "100000",
        "DISCORD_REQUEST_BURST": "100000",
    }
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    return env


def start_worker(
    env: dict[str, str], *, own_group: bool = False, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Its log goes to a temporary file (`log_file`), or to `log` for a test that reads
    it. `own_group`: in a process group of its own, so a drill can `kill -9` the whole group
    (`os.killpg`) and nothing else."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.workers.main"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log if log is not None else log_file("worker-"),
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )


@contextmanager
def api_server(env: dict[str, str], *, start_timeout: float = 60.0) -> Iterator[str]:
    """The API under uvicorn, as production runs it. `start_timeout` is generous for tests
    that can afford the wait on a busy machine (it bounds only a failure)."""
    with api_process(env, start_timeout=start_timeout) as (url, _):
        yield url


@contextmanager
def api_process(
    env: dict[str, str], *, start_timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """api_server, with its process (for a drill that signals it). Its log goes to a
    temporary file, as a worker's does: what a failed drill's API said is kept to read."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, *api_args("127.0.0.1", port)],
        cwd=PROJECT_ROOT,
        env=api_env(env),
        stdout=log_file("api-"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Importing the app takes seconds, many more on a machine busy with other suites.
        wait_for(f"{url}/health/live", start_timeout)
        yield url, proc
    finally:
        stop(proc)


def cli(env: dict[str, str], *args: str) -> str:
    """Runs `python -m app.cli ...`; returns its last line (a key, for `orgs create`)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]
