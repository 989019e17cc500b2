"""Social posts: plan them when an article is applied, deliver them once, follow updates.

The shell around the pure core (``route_article``, ``due_time``, ``render_post_text``,
``fit_text``) and the platform adapters. Order of every step: load, decide, write the intent,
call the platform, write the outcome. A post is claimed (``sending``, with a lease) before the
call; a crash leaves it ``sending`` until the lease ends, and then it is reconciled, never
blindly re-sent: a platform with an idempotency key (Mastodon, Bluesky) is retried with the
same key; the others are looked up among the account's recent posts (``find``) and become
``uncertain`` for an operator when that cannot tell.

:class:`Poster` combines planning (:mod:`syndication.posts.planner`) and delivery
(:mod:`syndication.posts.sender`) over one store, config and set of adapters.
"""

from __future__ import annotations

from syndication.config import Config
from syndication.posts.ledger import Ledger
from syndication.posts.planner import Decision, PlanningMixin, compose
from syndication.posts.sender import (
    LEASE_SECONDS,
    AdapterMaker,
    DeliveryMixin,
    credentials_for,
    default_adapter,
)
from syndication.store import Store

__all__ = [
    "LEASE_SECONDS",
    "Decision",
    "Poster",
    "compose",
    "credentials_for",
    "default_adapter",
    "follow_up",
]


class Poster(PlanningMixin, DeliveryMixin):
    """Plans and delivers posts for one store and config."""

    def __init__(
        self,
        store: Store,
        config: Config,
        adapter_for: AdapterMaker = default_adapter,
        *,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.store = store
        self.ledger = Ledger(store)
        self.config = config
        self.adapter_for = adapter_for
        self.channels = {c.name: c for c in config.channels}


def follow_up(
    poster: Poster,
    store: Store,
    event_type: str | None,
    article_id: str | None,
    now: float,
    *,
    backfill: bool = False,
) -> list[Decision]:
    """What an applied event means for posts: plan, re-render, edit, cancel or delete."""
    if not article_id or not poster.channels:
        return []
    if event_type == "article.unpublished":
        return poster.retract(article_id, now)
    article = store.get_article(article_id)
    return [] if article is None else poster.plan(article, now, backfill=backfill)
