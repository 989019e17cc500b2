"""Pytest fixtures for the X and Mastodon sandboxes, for any test module to import.

Import the fixtures you need into a test module (``from tests.sandbox_fixtures import
x_sandbox, x_adapter``); pytest finds fixtures by name in the module's namespace. Each fixture
starts a fresh local server on 127.0.0.1 and a free port and stops it after the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from syndication.platforms.base import AdapterSettings
from syndication.platforms.mastodon import MastodonAdapter
from syndication.platforms.x import XAdapter
from syndication.testing.mastodon import MastodonSandbox
from syndication.testing.x import XSandbox

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


@pytest.fixture
def x_sandbox() -> Iterator[XSandbox]:
    """A running X API sandbox."""
    with XSandbox() as server:
        yield server


@pytest.fixture
def x_adapter(x_sandbox: XSandbox) -> XAdapter:
    """An X adapter (real tweepy) pointed at ``x_sandbox``."""
    return XAdapter(x_settings(x_sandbox.base_url))


@pytest.fixture
def mastodon_sandbox() -> Iterator[MastodonSandbox]:
    """A running Mastodon API sandbox."""
    with MastodonSandbox() as server:
        yield server


@pytest.fixture
def mastodon_adapter(mastodon_sandbox: MastodonSandbox) -> MastodonAdapter:
    """A Mastodon adapter (real Mastodon.py) pointed at ``mastodon_sandbox``."""
    return MastodonAdapter(mastodon_settings(mastodon_sandbox.base_url))


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (then fail)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
