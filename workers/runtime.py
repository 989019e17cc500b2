"""What tasks need at run time, built once per worker process from settings.

Kept apart from ``workers.app`` so that tasks can reach it without importing the module that
imports them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from syndication.config import Config, load_config
from syndication.config.channels import ChannelConfig
from syndication.connection import connect
from syndication.keys import Keys
from syndication.platforms.base import Platform
from syndication.posts.poster import default_adapter
from syndication.settings import Settings
from syndication.store import Store


@dataclass
class Runtime:
    """What tasks need, built once per worker process from settings."""

    settings: Settings
    _config: Config | None = field(default=None, repr=False)
    _adapters: dict[str, Platform] = field(default_factory=dict, repr=False)

    @cached_property
    def store(self) -> Store:
        """The Redis store (one client per process)."""
        return Store(
            connect(self.settings),
            Keys(self.settings.prefix),
            event_memory_seconds=self.settings.event_memory_seconds,
        )

    @property
    def config(self) -> Config:
        """The YAML config, loaded on first use."""
        if self._config is None:
            self._config = load_config(self.settings.config_path)
        return self._config

    def adapter_for(self, channel: ChannelConfig) -> Platform:
        """The channel's platform adapter, built once per process and reused, so that its
        client keeps its HTTP connection (and Mastodon.py its instance facts) between posts."""
        key = channel.model_dump_json()
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = self._adapters[key] = default_adapter(channel)
        return adapter

    @cached_property
    def consumer_name(self) -> str:
        """This process's name in the inbox consumer group."""
        return f"{socket.gethostname()}-{os.getpid()}"


def runtime(app: Any) -> Runtime:
    """The :class:`Runtime` of a Celery app made by :func:`create_app`."""
    rt: Runtime = app.syndication
    return rt
