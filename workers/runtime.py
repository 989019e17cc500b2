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

from feeds.catalog import feed_indexer
from feeds.indexnow import IndexNow
from feeds.storage import FeedStorage
from syndication.config import Config, load_config
from syndication.connection import connect
from syndication.federation import Federation
from syndication.ingest import Ingestor
from syndication.keys import Keys
from syndication.posts import Posts
from syndication.settings import Settings
from syndication.store import Store


@dataclass
class Runtime:
    """What tasks need, built once per worker process from settings."""

    settings: Settings
    _config: Config | None = field(default=None, repr=False)
    # Run the blocking inbox reader in this worker (set when it consumes the ingest queue).
    read_inbox: bool = False

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

    @cached_property
    def posts(self) -> Posts:
        """The posts pipeline, built once per process so that adapters (and their HTTP
        connections, and Mastodon.py's instance facts) are reused between posts."""
        return Posts(
            self.store,
            self.config,
            lease_seconds=self.settings.post_lease_seconds,
            work_lease_seconds=self.settings.work_lease_seconds,
        )

    @cached_property
    def feeds(self) -> FeedStorage:
        """Rendering and the rendered documents (with the news sitemaps config enables)."""
        return FeedStorage(self.store, sitemaps=self.config.search.sitemaps)

    @cached_property
    def indexnow(self) -> IndexNow | None:
        """Submits changed article URLs to IndexNow, when config sets it up."""
        config = self.config.search.indexnow
        return None if config is None else IndexNow(self.store, config)

    @cached_property
    def federation(self) -> Federation:
        """The ActivityPub side: actors, federator, deliveries (built once per process)."""
        return Federation(self.store, self.config)

    @cached_property
    def ingestor(self) -> Ingestor:
        """Validates and applies events; records the planning they owe when channels exist,
        and the federating when actors do, and the IndexNow submission when IndexNow is
        configured."""
        owe: tuple[str, ...] = ("plan",) if self.config.channels else ()
        if self.config.federation.enabled:
            owe += ("federate",)
        if self.config.search.indexnow is not None:
            owe += ("indexnow",)
        return Ingestor(self.store, feed_indexer(self.config.feeds), self.settings.limits, owe=owe)

    @cached_property
    def consumer_name(self) -> str:
        """This process's name in the inbox consumer group."""
        return f"{socket.gethostname()}-{os.getpid()}"


def runtime(app: Any) -> Runtime:
    """The :class:`Runtime` of a Celery app made by :func:`create_app`."""
    rt: Runtime = app.syndication
    return rt
