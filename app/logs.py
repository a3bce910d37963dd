"""Log output for the API process: one formatter for readable text, one for JSON lines
(`LOG_FORMAT=json`), and the current request id on every record logged while answering."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from app.request_context import current_request_id

# Attributes the access log (and anything else) may attach with `extra=`; JSON lines carry
# them as fields, text lines as key=value pairs.
FIELDS = ("request_id", "method", "route", "status", "duration_ms", "organization_id")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value if isinstance(value, int | float) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} request_id={request_id}" if request_id else text


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str) -> None:
    """Give the app's loggers a handler unless the host (pytest, a log config) installed one
    on the root logger already. Idempotent: the API's factory may run more than once."""
    app_logger = logging.getLogger("app")
    app_logger.setLevel(logging.INFO)
    if logging.getLogger().handlers or any(
        getattr(h, "viewledger", False) for h in app_logger.handlers
    ):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.viewledger = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestIdFilter())
    app_logger.addHandler(handler)
