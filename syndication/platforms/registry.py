"""Platform name → adapter class, imported only when a channel of that platform is built.

Each entry is ``"module:Class"`` so that, say, a Mastodon-only deployment never imports tweepy.
Add a platform by adding one line to :data:`ADAPTERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from syndication.errors import ConfigError
from syndication.platforms.base import AdapterSettings, Platform

__all__ = ["ADAPTERS", "AdapterFactory", "adapter_class", "make_adapter"]

ADAPTERS: dict[str, str] = {
    "x": "syndication.platforms.x:XAdapter",
    "mastodon": "syndication.platforms.mastodon:MastodonAdapter",
    "telegram": "syndication.platforms.telegram:TelegramAdapter",
    "facebook": "syndication.platforms.facebook:FacebookAdapter",
    "bluesky": "syndication.platforms.bluesky:BlueskyAdapter",
    "linkedin": "syndication.platforms.linkedin:LinkedInAdapter",
    "threads": "syndication.platforms.threads:ThreadsAdapter",
}


AdapterFactory = Callable[[AdapterSettings], Platform]


def adapter_class(platform: str) -> AdapterFactory:
    """The adapter class registered for ``platform``, imported on first use."""
    try:
        target = ADAPTERS[platform]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise ConfigError(f"platform: unknown platform {platform!r} (known: {known})") from None
    module_name, _, class_name = target.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), class_name)
    return factory


def make_adapter(platform: str, settings: AdapterSettings) -> Platform:
    """Build the adapter for ``platform`` from ``settings``."""
    return adapter_class(platform)(settings)
