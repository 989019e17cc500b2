"""Platform name → adapter class, imported only when a channel of that platform is built.

Each platform's ``"module:Class"`` is in :data:`~syndication.platforms.facts.FACTS`, so that,
say, a Mastodon-only deployment never imports tweepy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from syndication.errors import ConfigError
from syndication.platforms.base import AdapterSettings, Platform
from syndication.platforms.facts import FACTS

__all__ = ["AdapterFactory", "adapter_class", "make_adapter"]

AdapterFactory = Callable[[AdapterSettings], Platform]


def adapter_class(platform: str) -> AdapterFactory:
    """The adapter class registered for ``platform``, imported on first use."""
    try:
        target = FACTS[platform].adapter
    except KeyError:
        known = ", ".join(sorted(FACTS))
        raise ConfigError(f"platform: unknown platform {platform!r} (known: {known})") from None
    module_name, _, class_name = target.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), class_name)
    return factory


def make_adapter(platform: str, settings: AdapterSettings) -> Platform:
    """Build the adapter for ``platform`` from ``settings``."""
    return adapter_class(platform)(settings)
