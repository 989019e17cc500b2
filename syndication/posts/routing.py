"""Routing: which channels an article goes to, by its category, language and tags (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from syndication.config.channels import ChannelConfig, RoutingConfig, primary_language
from syndication.events import Article

__all__ = ["is_too_old", "route_article"]


def _by_name(
    channels: Mapping[str, ChannelConfig] | Iterable[ChannelConfig],
) -> Mapping[str, ChannelConfig]:
    if isinstance(channels, Mapping):
        return channels
    return {c.name: c for c in channels}


def route_article(
    article: Article,
    routing: RoutingConfig,
    channels: Mapping[str, ChannelConfig] | Iterable[ChannelConfig],
) -> tuple[str, ...]:
    """Names of the channels ``article`` should be posted to, in route order, without repeats.

    Only channels whose language has the article's primary language subtag are kept (a ``vi``
    article never goes to an ``en`` channel, whatever the routes say); names that are not
    channels are skipped (:func:`validate_references` reports them).
    """
    known = _by_name(channels)
    chosen: dict[str, None] = {}
    for route in routing.routes:
        if not route.match.matches(article):
            continue
        for name in route.channels:
            channel = known.get(name)
            if channel is not None and (
                primary_language(channel.language) == primary_language(article.language)
            ):
                chosen.setdefault(name, None)
        if routing.mode == "first" or route.stop:
            break
    return tuple(chosen)


def is_too_old(channel: ChannelConfig, article: Article, now: datetime) -> bool:
    """True when ``article`` was published longer than the channel's ``max_age`` before ``now``."""
    return channel.max_age is not None and now - article.published_at > channel.max_age
