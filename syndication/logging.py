"""Structured logging, with secrets scrubbed from every line of every library.

Our own events are structlog event dicts; the standard-library loggers of the client libraries
(httpx, httpcore, urllib3, requests, requests_oauthlib, oauthlib, tweepy, Mastodon.py, atproto,
celery, kombu, uvicorn) go through the same processors, so every line is JSON off a terminal.

Redaction has three layers, because a secret can reach a log line in many ways (an httpx INFO
line carries Telegram's ``/bot<token>/`` URL; oauthlib at DEBUG prints the OAuth parameters;
a traceback repeats an exception's URL):

- **Known values.** Every credential the process loads (channel credentials, when an adapter
  is built; the webhook secret and the Redis password, and variables whose names say token,
  secret or password, from the environment) is remembered with :func:`remember_secrets` and
  replaced wherever it appears, percent-encoded forms included.
- **Patterns**, for what is not known in advance: ``/bot<token>/`` path segments,
  ``access_token=`` and similar query parameters, ``Authorization``/``Cookie`` header values,
  ``Bearer`` tokens, OAuth 1.0a parameters, and ``user:password@`` in URLs.
- **Everywhere**: a log-record factory scrubs the message and traceback of every stdlib record
  when it is created (so any handler, a library's own included, only sees scrubbed text); the
  structlog processor scrubs every value and drops values under secret-looking keys; uncaught
  exceptions are printed scrubbed.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import structlog

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api_key|cookie", re.I)
# Environment variables whose values are secrets by their name.
_SECRET_ENV = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CONSUMER_KEY|CREDENTIAL", re.I
)
# Shorter values are too likely to occur by chance in ordinary text to be replaced everywhere.
_MIN_SECRET = 6
_PARAM_NAMES = (
    r"access_token|refresh_token|id_token|token|api_key|apikey|key|secret|client_secret|"
    r"app_secret|password|passwd|signature|sig|auth|code|hub\.secret"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Telegram's Bot API puts the token in the path: /bot<id>:<secret>/<method>.
    (re.compile(r"(/bot)(\d+:[\w-]+|[^/\s?#'\"]{16,})"), r"\1" + REDACTED),
    # Secrets in query strings and form bodies.
    (re.compile(rf"([?&;](?:{_PARAM_NAMES})=)[^&#\s'\"]+", re.I), r"\1" + REDACTED),
    # Header values, in "Name: value" lines and in dict or bytes reprs.
    (
        re.compile(
            r"((?:proxy-)?authorization|cookie|set-cookie|x-api-key)(['\"]?\s*[:=]\s*)"
            r"(?:(b?')[^']*'|(b?\")[^\"]*\"|[^\r\n]*)",
            re.I,
        ),
        lambda m: f"{m[1]}{m[2]}{m[3] or m[4] or ''}{REDACTED}{(m[3] or m[4] or '')[-1:]}",
    ),
    (re.compile(r"\b(Bearer|Basic|Token)\s+[\w.~+/=-]{6,}"), r"\1 " + REDACTED),
    # OAuth 1.0a parameters, in headers, signature base strings and parameter lists.
    (
        re.compile(
            r"(oauth_(?:token|consumer_key|signature|verifier)(?:['\"]?,\s*|=|%3D)['\"]?)"
            r"[^'\"&,\s%)]+",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
    # user:password@host in any URL (redis://:pw@host, https://user:pw@host).
    (re.compile(r"(\b[a-z][\w+.-]*://[^:/@\s'\"]*:)[^@\s'\"/]+@", re.I), r"\1***@"),
)

_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that they are replaced wherever they would be logged."""
    global _known_pattern
    added = False
    with _lock:
        for value in values:
            if not value or len(value) < _MIN_SECRET:
                continue
            for form in {
                value,
                quote(value, safe=""),
                quote_plus(value),
                quote(quote(value, safe=""), safe=""),
            }:
                if form not in _known:
                    _known.add(form)
                    added = True
        if added:
            # Longest first, so that an encoded form is not half-replaced by a shorter one.
            ordered = sorted(_known, key=len, reverse=True)
            _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def secrets_from_environment(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Values of variables whose names say they are secrets, and any Redis URL's password."""
    env = os.environ if environ is None else environ
    found = [v for k, v in env.items() if _SECRET_ENV.search(k)]
    for name in ("REDIS_URL", "SYNDICATION_REDIS_URL"):
        url = env.get(name)
        if url:
            try:
                password = urlsplit(url).password
            except ValueError:
                password = None
            found.append(password or "")
    return found


def scrub(text: str) -> str:
    """``text`` with every known secret and every secret-looking pattern replaced."""
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for rule, replacement in _PATTERNS:
        text = rule.sub(replacement, text)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return scrub(repr(value))


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop values whose key looks like a secret; scrub secrets out of every other value."""
    for key in list(event):
        if key.startswith("_"):
            continue  # structlog's own bookkeeping (the stdlib record)
        event[key] = REDACTED if _is_secret_key(key) else _scrub_value(event[key])
    return event


# -- the standard library ------------------------------------------------------------------


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners replace it), unless
    that is not a text stream: Celery points ``sys.stderr`` at a proxy that logs what is
    written, which would loop back here (and its guard would drop every line)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr if isinstance(sys.stderr, io.TextIOBase) else sys.__stderr__

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _scrubbing_factory(
    previous: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.msg, str) or record.args:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string is the handler's to report, as usual
                return record
            record.msg, record.args = scrub(message), ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)))
        return record

    make.scrubs_secrets = True  # type: ignore[attr-defined]
    return make


def _install_record_factory() -> None:
    current = logging.getLogRecordFactory()
    if not getattr(current, "scrubs_secrets", False):
        logging.setLogRecordFactory(_scrubbing_factory(current))


def _print_scrubbed(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, value, tb))))


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _print_scrubbed(args.exc_type, args.exc_value, args.exc_traceback)


def configure_logging(level: str | int = "INFO", *, json_output: bool | None = None) -> None:
    """Route structlog and every stdlib logger to stderr, as JSON unless on a terminal, with
    secrets scrubbed; remember the secrets the environment holds."""
    remember_secrets(secrets_from_environment())
    name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
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
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(name)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _install_record_factory()
    handler = _Stderr()
    handler.set_name("syndication")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "syndication"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    # Only in place of the interpreter's defaults: a test runner's hooks stay in place.
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _print_scrubbed
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _thread_hook
