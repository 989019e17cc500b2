"""The posts pipeline composed over one store and one config (see :mod:`syndication.posts`)."""

from __future__ import annotations

from syndication.config import Config
from syndication.posts.adapters import AdapterMaker, Adapters, default_adapter
from syndication.posts.dispatcher import Dispatcher
from syndication.posts.images import LeadImages
from syndication.posts.ledger import Ledger
from syndication.posts.planner import WORK_LEASE, Planner
from syndication.posts.sender import LEASE_SECONDS, Sender
from syndication.posts.syncer import Syncer
from syndication.store import Store

__all__ = ["Posts"]


class Posts:
    """The posts pipeline for one store and one config."""

    def __init__(
        self,
        store: Store,
        config: Config,
        make_adapter: AdapterMaker = default_adapter,
        *,
        lease_seconds: float = LEASE_SECONDS,
        work_lease_seconds: float = WORK_LEASE,
    ) -> None:
        self.store = store
        self.config = config
        self.ledger = Ledger(store)
        self.adapters = Adapters(self.ledger, make_adapter)
        self.images = LeadImages(store, config.images)
        self.channels = {c.name: c for c in config.channels}
        self.planner = Planner(
            store, self.ledger, config, self.adapters, self.images, lease=work_lease_seconds
        )
        self.sender = Sender(
            self.ledger, self.channels, self.adapters, self.images, lease_seconds=lease_seconds
        )
        self.syncer = Syncer(
            store,
            self.ledger,
            self.channels,
            self.adapters,
            self.sender.outgoing,
            lease=work_lease_seconds,
        )
        self.dispatcher = Dispatcher(self.ledger, self.sender)
