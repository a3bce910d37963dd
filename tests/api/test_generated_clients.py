"""Clients generated from /openapi.json work with no workaround: openapi-python-client's
Python client and openapi-typescript's types (compiled with `tsc --strict`, called through
openapi-fetch) each run a typed flow against the API served by uvicorn: create a campaign,
a tier, a creator, a member, posts (both shapes), list and get them, read the report.

The npm packages come from tests/clients/package-lock.json (`npm ci`, run by `make install`
or here when missing); the generated code goes to tests/clients/generated/ (ignored)."""

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.settings import PROJECT_ROOT, Settings
from tests.processes import api_server, cli, worker_env

CLIENTS = PROJECT_ROOT / "tests" / "clients"
GENERATED = CLIENTS / "generated"
BIN = Path(sys.executable).parent


def run(*args: str | Path, cwd: Path = CLIENTS, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{args[0]}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def node_modules() -> Path:
    marker = CLIENTS / "node_modules" / ".package-lock.json"
    if not marker.exists():
        run("npm", "ci", "--no-audit", "--no-fund")
    return CLIENTS / "node_modules" / ".bin"


async def test_generated_python_and_typescript_clients_run_a_typed_flow(
    committed: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await asyncio.to_thread(_generate_and_run, settings)
    _ = committed  # the flows' data is removed with the rest


def _generate_and_run(settings: Settings) -> None:
    npm_bin = node_modules()
    shutil.rmtree(GENERATED, ignore_errors=True)
    GENERATED.mkdir(parents=True)
    env = worker_env(settings, "http://127.0.0.1:1")
    with api_server(env) as api:
        spec = GENERATED / "openapi.json"
        spec.write_text(httpx.get(f"{api}/openapi.json", timeout=10).text)

        # Python: generate, type-check the flow against the generated package, run it.
        config = GENERATED / "python-client.yaml"
        config.write_text("post_hooks: []\npackage_name_override: viewledger_client\n")
        run(
            BIN / "openapi-python-client", "generate", "--path", spec, "--meta", "none",
            "--output-path", GENERATED / "viewledger_client", "--config", config,
        )  # fmt: skip
        python_env = {**env, "PYTHONPATH": str(GENERATED), "MYPYPATH": str(GENERATED)}
        run(
            BIN / "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
            "--config-file=/dev/null", CLIENTS / "flow.py", env=python_env,
        )  # fmt: skip
        key = cli(env, "orgs", "create", "Python client")
        flow = run(sys.executable, CLIENTS / "flow.py", api, key, env=python_env)
        assert "python flow ok" in flow

        # TypeScript: generate the types, compile the flow strictly, run it.
        run(npm_bin / "openapi-typescript", spec, "-o", GENERATED / "schema.ts")
        run(npm_bin / "tsc", "-p", CLIENTS / "tsconfig.json")
        key = cli(env, "orgs", "create", "TypeScript client")
        assert "ts flow ok" in run("node", GENERATED / "js" / "flow.js", api, key)
