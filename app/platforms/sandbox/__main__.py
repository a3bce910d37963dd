"""`python -m app.platforms.sandbox --port 8900`"""

import argparse
import os
from datetime import timedelta

import uvicorn

from app import clock as clocks
from app.platforms.sandbox.app import Sandbox, create_app
from app.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.platforms.sandbox",
        description="Serve fake TikTok and Instagram stats APIs in the real shapes.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=get_settings().sandbox_port)
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=float(os.environ.get("SANDBOX_SLOW_SECONDS", "15")),
        help="how long slow magic ids and the 'timeout' fault wait before answering",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        default=int(os.environ.get("SANDBOX_RETRY_AFTER_SECONDS", "2")),
        help="Retry-After sent with 429 answers",
    )
    parser.add_argument(
        "--time-offset",
        type=float,
        default=float(os.environ.get("SANDBOX_TIME_OFFSET_SECONDS", "0")),
        help="seconds added to the sandbox clock (also settable at /__sandbox/clock)",
    )
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=get_settings().sandbox_smtp_port,
        help="the SMTP sink's port (its mail is at GET /__sandbox/mail)",
    )
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="do not log each request (the soak's sandbox: a tenth of its CPU per answer "
        "went to the log line)",
    )
    args = parser.parse_args()
    sandbox = Sandbox(
        # A soak's simulated clock (CLOCK_SPEED from CLOCK_ORIGIN), shared with its workers.
        now=clocks.for_settings(get_settings()),
        slow_seconds=args.slow_seconds,
        retry_after_seconds=args.retry_after,
    )
    sandbox.offset = timedelta(seconds=args.time_offset)
    app = create_app(sandbox, smtp=(args.host, args.smtp_port))
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="info", access_log=not args.no_access_log
    )


if __name__ == "__main__":
    main()
