"""What both benchmarks share: scratch databases, child processes that are always stopped,
peak RSS, CPU time of a process, requests served in-process, and the printed table plus the
closing JSON line."""

import asyncio
import contextlib
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Protocol

import asyncpg
import httpx
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import PROJECT_ROOT

# BENCH_REDIS_URL moves the benchmarks (and their smoke tests) off Redis database 14.
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"


def database_url(name: str) -> str:
    """The URL of the benchmark database `name`, plus BENCH_DATABASE_SUFFIX when set (the
    smoke tests' own databases, beside the recorded runs'; still viewledger_bench*)."""
    if name != "postgres":
        name += os.environ.get("BENCH_DATABASE_SUFFIX", "")
    base = make_url(
        os.environ.get(
            "BENCH_DATABASE_URL", f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/x"
        )
    )
    return base.set(database=name).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq-style DSN asyncpg wants, from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_name(name: str) -> str:
    """The name `database_url(name)` points at (BENCH_DATABASE_SUFFIX applied)."""
    return make_url(database_url(name)).database or name


async def _admin_connection(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(str(make_url(url).set(database="postgres"))))


async def recreate_database(url: str) -> None:
    """Drop (forcing out any session) and create the database named in `url`."""
    name = make_url(url).database
    if not name or not name.startswith("viewledger_bench"):
        raise ValueError(f"refusing to drop {name!r}: not a viewledger_bench* database")
    conn = await _admin_connection(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def database_comment(url: str) -> str | None:
    """The bench's seed fingerprint lives in the database's comment (None: no such database)."""
    name = make_url(url).database
    conn = await _admin_connection(url)
    try:
        row = await conn.fetchrow(
            "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
            name,
        )
    finally:
        await conn.close()
    if row is None:
        return None
    return str(row["c"] or "")


# Alembic (with Mako under it) is imported by the functions below, where a benchmark seeds:
# the engine's child processes import this module too, and their peak RSS is a figure.


def _alembic_config() -> Any:
    from alembic.config import Config

    return Config(str(PROJECT_ROOT / "alembic.ini"))


def _scripts() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def migration(revision: str) -> ModuleType:
    """A migration's module, for SQL the seeds share with it."""
    found = _scripts().get_revision(revision)
    assert found is not None
    module: ModuleType = found.module
    return module


async def migrate(url: str) -> None:
    """Apply every migration, the way the tests do (alembic on a passed-in connection)."""
    from alembic import command

    config = _alembic_config()
    config.attributes["configure_logger"] = False
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def upgrade(sync_conn: object) -> None:
                config.attributes["connection"] = sync_conn
                command.upgrade(config, "head")

            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()


async def pg_version(url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), "?")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size: its memory's high-water mark (VmHWM, KiB).
    Not getrusage's ru_maxrss, which Linux keeps across fork and exec: a child started by
    a process of 107 MB reported 107 MB whatever it used itself (the pipeline's children
    after the paced phase ran in their parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, children it waited for included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def free_port_or_fail(port: int) -> int:
    """Fail early if something listens on `port` (connections lingering in TIME_WAIT from a
    previous run do not count: servers bind with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"port {port} is taken; pass another one") from None
    return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port} after {timeout}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group we created, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def child_process(
    args: Sequence[str], *, env: dict[str, str] | None = None, log_name: str = "child"
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A child in its own process group (so its own children stop with it), logging to a
    temporary file; stopped on the way out whatever happened."""
    log: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115
        prefix=f"bench-{log_name}-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        list(args),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc, Path(log.name)
    finally:
        stop_process(proc)
        log.close()


class InProcessGet(Protocol):
    """A GET the in-process benchmarks send (bench.load.Item is one): `path` may carry a query;
    an empty `key` sends no Authorization header."""

    @property
    def path(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def cookie(self) -> str | None: ...


async def asgi_get(app: Any, request: InProcessGet, port: int) -> int:
    """One GET through an ASGI app in this process, as uvicorn on `port` would hand it over
    (no socket, no server): the answer's status. The body is read and dropped."""
    path, _, query = request.path.partition("?")
    headers = [(b"host", f"127.0.0.1:{port}".encode()), (b"accept", b"*/*")]
    if request.cookie:
        headers.append((b"cookie", request.cookie.encode()))
    if request.key:
        headers.append((b"authorization", f"Bearer {request.key}".encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", port),
        "state": {},
    }
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the client waits for its answer
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def asgi_round(app: Any, requests: Sequence[InProcessGet], n: int, port: int) -> float:
    """n GETs through `app` in this process, cycling through `requests`, one at a time: this
    process's CPU seconds per request. Any answer but 200 stops the benchmark (a figure for
    an error page would be a figure for the wrong thing)."""
    cpu0 = time.process_time()
    for i in range(n):
        request = requests[i % len(requests)]
        status = await asgi_get(app, request, port)
        if status != 200:
            raise RuntimeError(f"{request.path} answered {status}")
    return (time.process_time() - cpu0) / n


def python() -> str:
    return sys.executable


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if value < 1 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def last_line(figures: dict[str, Any]) -> None:
    """The closing JSON object: always the very last line of output."""
    sys.stdout.flush()
    print(json.dumps(figures, separators=(",", ":"), default=str), flush=True)


def figures_in(output: Sequence[str]) -> dict[str, Any] | None:
    """A child benchmark's closing JSON object (`last_line`), from its logged lines: the last
    that is one. Its stderr shares the log, and a library may still write there as the
    process exits (asyncio's "Future exception was never retrieved" for an asyncpg
    connection lost at exit, once in `make test`'s two-process run of bench.freshness)."""
    for line in reversed(output):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue  # a log line that only looks like one
            if isinstance(found, dict):
                return found
    return None


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s: float, *, threshold: float = 0.15, sample_s: float = 3.0) -> float:
    """Before a measurement on a shared machine: wait (at most `max_wait_s`) until all cores
    together were busy less than `threshold` of a core over `sample_s`. Returns the busy share
    last seen; a figure taken while something else ran says so in its `other` CPU column.
    `max_wait_s` 0: no wait and no sample (the smoke runs)."""
    if max_wait_s <= 0:
        return 0.0
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_seconds()
        time.sleep(sample_s)
        busy = (machine_busy_seconds() - before) / sample_s
        if busy < threshold or time.monotonic() >= deadline:
            if busy >= threshold:
                print(f"   (machine still busy: {busy:.2f} cores; measuring anyway)", flush=True)
            return busy
        print(f"   (machine busy: {busy:.2f} cores; waiting for it to settle)", flush=True)


def git_head() -> str:
    """The commit measured, with `+dirty` when app/ or migrations/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "migrations"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


async def deep_cursor(
    client: httpx.AsyncClient, path: str, key: str, depth: int, **params: str
) -> str | None:
    """The cursor `depth` rows into one of the API's lists (`path` with `params`), walked
    through its own pages; None when the list ends sooner. `client` reaches the service, over
    HTTP or in-process."""
    cursor, seen = None, 0
    while seen < depth:
        query: dict[str, str | int] = {**params, "limit": min(200, depth - seen)}
        if cursor:
            query["cursor"] = cursor
        r = await client.get(path, params=query, headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
        page = r.json()
        seen += len(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return None
    return cursor
