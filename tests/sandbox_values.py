"""Credentials and adapter settings for the X and Mastodon sandboxes (their fixtures are in
``tests/conftest.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from syndication.platforms.base import AdapterSettings

# Distinctive values, so a test can prove none of them ever reaches a message.
X_CREDENTIALS = {
    "consumer_key": "ck-SECRET-4f1d9a77c2",
    "consumer_secret": "cs-SECRET-b80e31f6aa",
    "access_token": "at-SECRET-1234567890-9c2e",
    "access_token_secret": "ats-SECRET-5d7a0e42f1",
}
MASTODON_TOKEN = "mt-SECRET-0c9f2b6e1a7d"


def x_settings(base_url: str, timeout: float = 5.0, **credentials: str) -> AdapterSettings:
    """Adapter settings for the X sandbox; keyword arguments override credentials."""
    return AdapterSettings(
        base_url=base_url, credentials={**X_CREDENTIALS, **credentials}, timeout=timeout
    )


def mastodon_settings(
    base_url: str, timeout: float = 5.0, token: str = MASTODON_TOKEN
) -> AdapterSettings:
    """Adapter settings for the Mastodon sandbox."""
    return AdapterSettings(base_url=base_url, credentials={"access_token": token}, timeout=timeout)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (then fail)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
