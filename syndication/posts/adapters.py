"""Each channel's platform adapter, built from config and the environment, once per process.

Credentials are read from the environment variables a channel's config names (``NAME_FILE``
for a mounted secret when ``NAME`` is unset); they go to the adapter and nowhere else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from syndication.config.channels import ChannelConfig
from syndication.errors import PermanentError, PlatformError, SyndicationError
from syndication.platforms.base import AdapterSettings, Platform
from syndication.platforms.registry import make_adapter
from syndication.posts.ledger import Ledger

__all__ = ["AdapterMaker", "Adapters", "credentials_for", "default_adapter"]

AdapterMaker = Callable[[ChannelConfig], Platform]
# How long a process trusts the instance text limits it read (Redis keeps them for a day).
_LIMITS_MEMO_SECONDS = 60.0


def credentials_for(
    channel: ChannelConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Read a channel's credentials from the environment variables its config names.

    ``NAME_FILE`` (a mounted secret) is accepted when ``NAME`` is not set.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for role, name in channel.credentials.items():
        value = env.get(name)
        if value is None and env.get(f"{name}_FILE"):
            with open(env[f"{name}_FILE"], encoding="utf-8") as fh:
                value = fh.read().strip()
        if value is None:
            raise PermanentError(
                channel.platform, f"credential {role}: environment variable {name} is not set"
            )
        out[role] = value
    return out


def default_adapter(channel: ChannelConfig) -> Platform:
    """Build the adapter of a channel from config and environment."""
    return make_adapter(
        channel.platform,
        AdapterSettings(
            base_url=channel.api_base_url,
            credentials=credentials_for(channel),
            options=dict(channel.options),
        ),
    )


class Adapters:
    """Adapters by channel, built once and reused, so a client keeps its HTTP connection (and
    Mastodon.py its instance facts) between posts; plus the facts read from the platforms."""

    def __init__(self, ledger: Ledger, make: AdapterMaker = default_adapter) -> None:
        self.ledger = ledger
        self.make = make
        self._built: dict[str, Platform] = {}
        # The same config object asks again on every send: remember its key by identity
        # (holding the object keeps its id from being reused).
        self._keys: dict[int, tuple[ChannelConfig, str]] = {}
        self._limits: dict[str, tuple[float, tuple[int, int]]] = {}

    def for_channel(self, channel: ChannelConfig) -> Platform:
        """The channel's adapter (built on first use; a changed config builds a new one)."""
        known = self._keys.get(id(channel))
        if known is None or known[0] is not channel:
            known = self._keys[id(channel)] = (channel, channel.model_dump_json())
        adapter = self._built.get(known[1])
        if adapter is None:
            adapter = self._built[known[1]] = self.make(channel)
        return adapter

    def text_limits(self, channel: ChannelConfig) -> tuple[int, int] | None:
        """Mastodon: the instance's limits (``/api/v2/instance``), cached for a day in Redis
        and for a minute in this process."""
        if channel.platform != "mastodon":
            return None
        now = time.monotonic()
        seen = self._limits.get(channel.name)
        if seen is not None and now - seen[0] < _LIMITS_MEMO_SECONDS:
            return seen[1]
        limits = self._read_text_limits(channel)
        if limits is not None:
            self._limits[channel.name] = (now, limits)
        return limits

    def _read_text_limits(self, channel: ChannelConfig) -> tuple[int, int] | None:
        cached = self.ledger.text_limits(channel.name)
        if cached is not None:
            return cached
        try:
            read = getattr(self.for_channel(channel), "text_limits", None)
            limits: tuple[int, int] | None = read() if read else None
        except (PlatformError, SyndicationError):
            return None  # the defaults (500, 23) apply; the next plan asks again
        if limits is not None:
            self.ledger.save_text_limits(channel.name, limits)
        return limits
