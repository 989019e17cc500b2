"""Structured logging: JSON lines off a terminal, a console renderer on one, secrets dropped."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api_key|cookie", re.I)
_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]+@")


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop values whose key looks like a secret; mask passwords inside URLs."""
    for key in list(event):
        if _SECRET_KEY.search(key):
            event[key] = "[redacted]"
        elif isinstance(event[key], str) and "@" in event[key]:
            event[key] = _URL_PASSWORD.sub(r"\1***@", event[key])
    return event


def configure_logging(level: str = "INFO", *, json_output: bool | None = None) -> None:
    """Route structlog and stdlib logging to stderr, as JSON unless on a terminal."""
    as_json = not sys.stderr.isatty() if json_output is None else json_output
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else (structlog.dev.ConsoleRenderer(colors=False))
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
