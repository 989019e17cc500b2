"""ActivityPub: followable actors per language and section, fed from the same events.

:class:`Federation` composes the parts over one store and config, as
:class:`~syndication.posts.Posts` does for social posts:

- :class:`~syndication.federation.actors.Directory`: which actors exist, their URLs (pure);
- :class:`~syndication.federation.accounts.Accounts`: key pairs, followers, remote keys;
- :class:`~syndication.federation.ledger.DeliveryLedger`: activities and one delivery
  record per activity and inbox (Lua scripts);
- :class:`~syndication.federation.federator.Federator`: the ``federate`` work list, from
  article changes to Create / Update / Delete;
- :class:`~syndication.federation.delivery.Deliverer` and
  :class:`~syndication.federation.delivery.Dispatcher`: signed POSTs, retries, give-up,
  dead servers;
- :class:`~syndication.federation.inbox.Inbox`: verified Follow, Undo and Delete.

The HTTP routes (WebFinger, NodeInfo, actors, collections, inboxes) are in
:mod:`syndication.federation.web`, mounted by ``syndication serve``.
"""

from __future__ import annotations

import httpx

from syndication.config import Config
from syndication.federation.accounts import Accounts
from syndication.federation.actors import Directory
from syndication.federation.delivery import Deliverer, Dispatcher
from syndication.federation.federator import Federator
from syndication.federation.inbox import Inbox
from syndication.federation.ledger import DeliveryLedger
from syndication.federation.remote import Remote
from syndication.store import Store

__all__ = ["Federation"]


class Federation:
    """The ActivityPub side of one store and one config."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        fed = config.federation
        self.store = store
        self.config = config
        self.directory = Directory(config)
        self.accounts = Accounts(
            store, key_bits=fed.key_bits, key_cache_seconds=int(fed.key_cache.total_seconds())
        )
        self.ledger = DeliveryLedger(store)
        self.remote = Remote(
            allow_private=fed.allow_private,
            timeout=fed.delivery.timeout,
            transport=transport,
            verify=verify,
        )
        self.federator = Federator(store, self.directory, self.accounts, self.ledger, config)
        self.deliverer = Deliverer(
            self.ledger, self.accounts, self.directory, self.remote, fed.delivery
        )
        self.dispatcher = Dispatcher(
            self.ledger, redispatch_after=fed.delivery.redispatch_after.total_seconds()
        )
        self.inbox = Inbox(self.directory, self.accounts, self.ledger, self.remote, fed)

    @property
    def enabled(self) -> bool:
        """Whether any actor is configured."""
        return bool(self.directory.actors)

    def close(self) -> None:
        """Close the HTTP client."""
        self.remote.close()
