"""Structured logs: one JSON object per line, with the request, session and turn it concerns.

The ids live in context variables: the server's request middleware binds the request id (and the
session id of `/api/sessions/{id}/...`), `drive_turn` binds the session and turn ids. asyncio copies
them into the tasks and threads it starts, so a turn's log lines carry the id of the request that
began it. Tracebacks go into the `exc` field, never across lines. `log_config()` is the whole
logging setup of `firstline serve`, uvicorn's access log included.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["auto", "json", "text"]
IDS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"firstline_{name}", default=None) for name in ("request_id", "session_id", "turn_id")
}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def bind(**ids: str | None) -> None:
    """Set ids for the current task (and what it starts from now on)."""
    for name, value in ids.items():
        IDS[name].set(value)


def current_ids() -> dict[str, str]:
    return {name: value for name, var in IDS.items() if (value := var.get()) is not None}


class ContextIds(logging.Filter):
    """Copies the bound ids onto each record when it is made, in the task or thread that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_ids().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ids..., extras..., "exc"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            out.update(zip(_ACCESS_FIELDS, record.args, strict=True))
            out["msg"] = f"{out['method']} {out['path']} {out['status']}"
        else:
            out["msg"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_") and key != "color_message":
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def resolve(fmt: LogFormat, stream: Any = None) -> Literal["json", "text"]:
    """`auto`: text for a person at a terminal, JSON for everything else (containers, systemd, files)."""
    if fmt != "auto":
        return fmt
    stream = stream if stream is not None else sys.stderr
    return "text" if hasattr(stream, "isatty") and stream.isatty() else "json"


def log_config(fmt: LogFormat, level: str = "info") -> dict[str, Any] | None:
    """A `logging.config.dictConfig` for the server (uvicorn's `log_config`); None keeps uvicorn's text logs."""
    if resolve(fmt) == "text":
        return None
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "json",
        "filters": ["ids"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": {"()": ContextIds}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
