"""Structured logs: one line per event, with automation/policy/repository fields, secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from imagebot.redact import install_redaction, scrub

# LogRecord attributes that are not fields of ours
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # The whole line, fields and tracebacks included: a secret may sit in any of them.
        return scrub(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None)
        line = f"{when} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        return scrub(f"{line} {extra}" if extra else line)


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):  # a line per request is noise, and URLs or headers may carry tokens
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_redaction(handler)
