"""Playing Discord's part in tests: a generated Ed25519 key pair, signed interactions, and
the worker's jobs run by a real arq worker (burst mode) against the test Redis."""

import json
import warnings
from collections.abc import Sequence
from typing import Any

import httpx
from arq import func as arq_function
from arq.connections import ArqRedis
from arq.worker import Worker

from app.discord.demo import interaction, new_key_pair, option, sign
from app.workers import worker

__all__ = ["interaction", "new_key_pair", "option", "run_jobs", "send", "sign"]


async def send(
    client: httpx.AsyncClient,
    private_hex: str,
    payload: dict[str, Any],
    *,
    timestamp: int | None = None,
    tamper: bool = False,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = sign(private_hex, body, timestamp)
    if tamper:  # signed, then changed on the way
        body = body.replace(b'"type": ', b'"type":  ')
    return await client.post("/discord/interactions", content=body, headers=headers)


async def run_jobs(redis_url: str, ctx: dict[str, Any], functions: Sequence[Any] = ()) -> None:
    """Runs every queued job once, as the worker would, then returns."""
    pool = ArqRedis.from_url(redis_url)
    jobs = functions or [
        arq_function(worker.discord_followup, max_tries=1),
        worker.process_post_import,
    ]
    runner = Worker(
        jobs,
        redis_pool=pool,
        burst=True,
        ctx=ctx,
        handle_signals=False,
        poll_delay=0.05,
        keep_result=0,
    )
    try:
        await runner.main()
    finally:
        with warnings.catch_warnings():
            # arq closes its pool with redis-py's deprecated close().
            warnings.simplefilter("ignore", DeprecationWarning)
            await runner.close()
        await pool.aclose()
