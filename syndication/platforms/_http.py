"""What a failed ``requests`` call tells the requests-based adapters (tweepy, Mastodon.py).

The only question that matters for a write is whether the request could have reached the
platform. A refused connection, a failed DNS lookup or a connect timeout happen before a byte
of the request is sent: the platform cannot have acted on it, so a retry is safe. Anything
later (the connection dropped while waiting for the answer, a read timeout) may have
happened after the platform carried the request out.
"""

from __future__ import annotations

import socket

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

_BEFORE_SENDING: tuple[type[BaseException], ...] = (
    NewConnectionError,
    ConnectTimeoutError,
    ConnectionRefusedError,
    socket.gaierror,
    requests.exceptions.ConnectTimeout,
)


def failed_before_sending(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) shows the request never left this machine."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _BEFORE_SENDING):
            return True
        # requests and urllib3 wrap the cause in args (MaxRetryError.reason, ConnectionError
        # args[0]) as well as in the exception chain; Mastodon.py only chains implicitly.
        stack.extend(current.args)
        stack.append(getattr(current, "reason", None))
        stack.append(current.__cause__)
        stack.append(current.__context__)
    return False


def describe_network_error(exc: BaseException) -> str:
    """A short, credential-free description of a network failure: its innermost kind.

    Exception texts from requests contain the URL; the adapters never put credentials in URLs,
    but the class name alone is all the ledger needs.
    """
    names: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(names) < 4:
        names.append(type(current).__name__)
        nested = current.args[0] if current.args else None
        reason = getattr(nested, "reason", None) or getattr(current, "reason", None)
        if isinstance(reason, BaseException) and reason is not current:
            current = reason
        elif isinstance(nested, BaseException):
            current = nested
        else:
            current = current.__context__
    return " <- ".join(names)
