"""Driving an HTTP server from a separate process: wrk (C, event-driven; one thread is enough
for a few thousand requests a second on loopback) with a generated Lua script, and the CPU
each party used while it ran, so we can tell who the bottleneck was."""

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.settings import PROJECT_ROOT
from bench import common

# Every request cycles through a list of (method, path, key, body-template) items; a POST body
# may contain {id}, replaced by a number unique per request, per thread and per wrk run.
_LUA = r"""
local items = {
%(items)s
}
local nonce = 0
local counter = 0
local tid = 0
local threads = 0
local reqs = {}

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

-- An API key (item 3), or a signed-in browser's session cookie (item 5) when there is one.
function auth(it)
  if it[5] ~= nil then
    return {["Cookie"] = it[5]}
  end
  return {["Authorization"] = "Bearer " .. it[3]}
end

function init(args)
  nonce = tonumber(args[1]) or 0
  math.randomseed(nonce * 1000 + tid)
  for i, it in ipairs(items) do
    if it[4] == nil then
      reqs[i] = wrk.format(it[1], it[2], auth(it))
    end
  end
  counter = math.random(#items)
end

function request()
  counter = counter + 1
  local i = counter %% #items + 1
  local it = items[i]
  if it[4] == nil then
    return reqs[i]
  end
  local id = string.format("77%%02d%%02d%%012d", nonce %% 100, tid, counter)
  local body = string.gsub(it[4], "{id}", id)
  return wrk.format(it[1], it[2], {["Authorization"] = "Bearer " .. it[3],
                                   ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"mean_us":%%.1f,' ..
    '"max_us":%%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Item:
    method: str
    path: str
    key: str
    body: str | None = None  # may contain {id}
    cookie: str | None = None  # a session cookie (the dashboard), sent instead of the key


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_script(items: Sequence[Item]) -> str:
    rows = []
    for it in items:
        fields = [_lua_string(it.method), _lua_string(it.path), _lua_string(it.key)]
        if it.body is not None or it.cookie is not None:
            fields.append("nil" if it.body is None else _lua_string(it.body))
        if it.cookie is not None:
            fields.append(_lua_string(it.cookie))
        rows.append("  {" + ", ".join(fields) + "},")
    return _LUA % {"items": "\n".join(rows)}


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core, per party
    # wrk's connections per server process, sampled mid-run (uvicorn's workers share one
    # listening socket; the worker that wakes first may accept most of a burst of connects)
    spread: list[int] = field(default_factory=list)

    def row(self) -> list[object]:
        return [
            self.concurrency,
            self.rps,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            self.cpu.get("server", 0.0),
            self.cpu.get("postgres", 0.0),
            self.cpu.get("wrk", 0.0),
            self.cpu.get("other", 0.0),
            "/".join(str(n) for n in self.spread) or "-",
        ]


HEADERS = [
    "conc", "req/s", "p50_ms", "p99_ms", "errors", "cpu_srv", "cpu_pg", "cpu_wrk", "cpu_other",
    "conns/worker",
]  # fmt: skip


def wrk_path() -> str:
    """wrk, installed first (Debian's package, by the project's tests/system_packages.sh, as
    `make test` installs it) when it is missing."""
    path = shutil.which("wrk")
    if path is None:
        print("   wrk is missing: installing it (tests/system_packages.sh wrk)", flush=True)
        script = PROJECT_ROOT / "tests" / "system_packages.sh"
        done = subprocess.run(["bash", str(script), "wrk"], check=False)
        path = shutil.which("wrk")
        if done.returncode != 0 or path is None:
            raise SystemExit(f"wrk is not installed and could not be: run bash {script} wrk")
    return path


_nonce = 0


def run_wrk(
    url: str,
    items: Sequence[Item],
    *,
    concurrency: int,
    duration_s: float,
    cpu_of: Callable[[], dict[str, float]],
    port: int | None = None,
) -> LoadResult:
    """One wrk run (1 thread, `concurrency` connections, fixed duration), with the CPU time
    the server, PostgreSQL, wrk and the whole machine used meanwhile."""
    global _nonce
    _nonce += 1
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(items))
    try:
        before = cpu_of()
        busy0 = common.machine_busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                wrk_path(),
                "-t1",
                f"-c{concurrency}",
                f"-d{duration_s:g}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
                "--",
                str(_nonce),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        spread: list[int] = []
        if port is not None:
            time.sleep(min(1.0, duration_s / 2))
            spread = connections_per_process(port)
        try:
            out, _ = proc.communicate(timeout=duration_s + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        # communicate() reaped it; its CPU time is in this process's children's usage.
        wall = time.perf_counter() - started
        busy = common.machine_busy_seconds() - busy0
        after = cpu_of()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(script.name)
    lines = out.decode().strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.decode()[-2000:]}")
    r: dict[str, Any] = json.loads(lines[-1])
    duration = r["duration_us"] / 1e6
    detail = {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]}
    cpu = {k: (after.get(k, 0.0) - before.get(k, 0.0)) / wall for k in after}
    cpu["machine"] = busy / wall
    cpu["other"] = max(cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"), 0.0)
    return LoadResult(
        concurrency=concurrency,
        requests=r["requests"],
        duration_s=duration,
        rps=r["requests"] / duration,
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        mean_ms=r["mean_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        errors=sum(detail.values()),
        error_detail=detail,
        cpu=cpu,
        spread=spread,
    )


def connections_per_process(port: int) -> list[int]:
    """Established connections to `port`, counted per server process, largest first."""
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (uvicorn's master and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def backends_cpu(database: str) -> dict[int, float]:
    """CPU time so far of each PostgreSQL backend serving `database` (by its process title,
    `postgres: ... <user> <database> <client> <state>`)."""
    marker = f" {database} ".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            if title.startswith(b"postgres:") and marker in title:
                found[int(entry.name)] = common.cpu_seconds(int(entry.name))
        except OSError:
            continue
    return found


def backends_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the backends used in between: new backends count whole; ones that exited meanwhile
    are lost (with a warmed-up pool there are few)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def tree_cpu(root: int) -> float:
    total = 0.0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            total += common.cpu_seconds(pid)
    return total
