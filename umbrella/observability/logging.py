"""JSON logs to stdout, one event per line, with request/trace/span ids; no secrets or bodies."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from umbrella.config import LogFormat, Settings
from umbrella.observability.tracing import current_span_ids

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process_name = process

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self.process_name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            event["request_id"] = request_id
        ids = current_span_ids()
        if ids:
            event["trace_id"], event["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


class ConsoleFormatter(logging.Formatter):
    """Readable lines for a developer's terminal, with the structured fields appended."""

    def __init__(self, process: str) -> None:
        super().__init__(f"%(asctime)s {process:<6} %(levelname)-5s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = current_span_ids()
        fields = [f"trace_id={ids[0]}", f"span_id={ids[1]}"] if ids else []
        fields += [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_") and value is not None
        ]
        return f"{line} {' '.join(fields)}" if fields else line


def configure_logging(settings: Settings, *, process: str, stream: TextIO | None = None) -> None:
    """Route every logger to stdout (or `stream`) in the configured format."""
    handler = logging.StreamHandler(stream or sys.stdout)
    formatter: logging.Formatter = (
        JsonFormatter(process)
        if settings.log_format is LogFormat.JSON
        else ConsoleFormatter(process)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Chatty libraries: their INFO lines are noise in production logs.
    for name in ("aiohttp.access", "asyncio", "piccolo", "pgqueuer", "httpx", "twilio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
