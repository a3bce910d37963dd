"""`python -m app.workers.main`: the worker process. Runs the arq worker and serves the
worker's Prometheus metrics. Losing Redis stops arq's loop; this process waits and starts it
again with the same resources, rather than exiting.

SIGTERM/SIGINT stop it gracefully, within WORKER_STOP_GRACE_SECONDS: no job is picked and no
post or delivery claimed after the signal; running sweeps finish the fetch batch in flight,
hand back what they claimed but did not fetch and flush their writes; jobs still running a
few seconds before the grace period ends are cancelled (and hand their work back); when it
ends the process exits whatever is left (README "Stopping and rollouts")."""

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from arq.worker import Worker, create_worker
from prometheus_client import start_http_server
from redis.exceptions import RedisError

from app.settings import get_settings
from app.workers.worker import WorkerSettings, shutdown

log = logging.getLogger("app.workers")


def serve_metrics(host: str, port: int) -> bool:
    """Serves /metrics on host:port. A port already taken (another worker on this host, a
    leftover process) costs this worker its metrics, not its work: one warning line, and the
    worker runs on without them."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning(
            "worker metrics are not served: %s:%d is not available (%s); this worker runs "
            "without them. Give each worker on one host its own WORKER_METRICS_PORT.",
            host,
            port,
            exc.strerror or exc,
        )
        return False
    return True


async def run() -> None:
    settings = get_settings()
    serve_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
    ctx: dict[str, Any] = {"settings": settings}
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    current: list[Worker] = []

    def stop() -> None:
        if stopping.is_set():
            return
        stopping.set()
        grace = settings.worker_stop_grace_seconds
        log.info("stopping: no new claims; %.0f s to finish or hand back what is held", grace)
        for job_owner in ("refresher", "webhooks"):
            if job_owner in ctx:
                ctx[job_owner].stop()
        for worker in current:
            worker.handle_sig_wait_for_completion(signal.SIGTERM)
        loop.call_later(grace, out_of_time)

    def out_of_time() -> None:
        # Whatever is still held keeps its lease and comes back when the lease runs out.
        log.warning("stopping: the grace period is over; exiting with work still running")
        logging.shutdown()
        os._exit(1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    delay = 1.0
    try:
        while not stopping.is_set():
            worker = create_worker(WorkerSettings, ctx=ctx)  # type: ignore[arg-type]
            current[:] = [worker]
            try:
                await worker.async_run()
                delay = 1.0
            except (RedisError, OSError) as exc:
                log.warning("lost Redis (%r); starting again in %.0f s", exc, delay)
            except asyncio.CancelledError:
                if not stopping.is_set():
                    raise
            finally:
                for task in list(worker.tasks.values()):
                    task.cancel()
                await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
                worker.tasks.clear()
                # close() talks to Redis, which may be the thing that is gone.
                with contextlib.suppress(Exception):
                    await worker.close()
            if not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                delay = min(delay * 2, 30)
    finally:
        if "refresher" in ctx:
            await shutdown(ctx)
    if stopping.is_set():
        log.info("stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # arq logs every cron tick; the jobs log what they did when they did something.
    logging.getLogger("arq").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(run())


if __name__ == "__main__":
    main()
