"""JSON log lines (one object per line) for the node and uvicorn, with query strings scrubbed.

Hand-written because it is ~20 lines and python-json-logger is not a dependency.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


_QUERY = re.compile(r"\?\S*")


class ScrubQuery(logging.Filter):
    """Cut the query string off every path a record carries (uvicorn logs ``WebSocket /v1/ws?…`` and
    access lines with the full URL): a URL may hold a secret, whatever the API documents."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY.sub("", arg) if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def log_config(level: str, json_logs: bool) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict for the node and uvicorn (``uvicorn.run(log_config=...)``)."""
    formatter = (
        {"()": JsonFormatter} if json_logs else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["scrub"],
        "stream": "ext://sys.stderr",
    }
    loggers = {
        name: {"level": level.upper(), "handlers": ["default"], "propagate": False}
        for name in ("messenger", "uvicorn", "uvicorn.error", "uvicorn.access")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"scrub": {"()": ScrubQuery}},
        "handlers": {"default": handler},
        "loggers": loggers,
    }
