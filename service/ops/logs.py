"""Logs: JSON lines for a log collector, readable lines for a person at a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``10:11:03.412 info  POST /v1/ask 200  request_id=abc-123 ms=11.8``: for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED and k != "event"
        )
        line = (
            f"{stamp}.{int(record.msecs):03d} {record.levelname.lower():<7} {record.getMessage()}"
        )
        line = f"{line}  {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_config(level: str, fmt: str = "auto") -> dict[str, Any]:
    """A logging dictConfig for uvicorn and ragqa on stderr.

    ``fmt`` is ``json``, ``text``, or ``auto``: text when stderr is a terminal, else JSON.
    """
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    formatter = TextFormatter if fmt == "text" else JsonFormatter
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": formatter}},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
            for name in ("ragqa", "uvicorn", "uvicorn.error")
        },
        "root": {"handlers": ["default"], "level": "WARNING"},  # libraries' warnings too
    }
