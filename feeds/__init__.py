"""Feed rendering: RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents, and the OPML index.

The rendering names are imported when first used, so that a process that only reads stored
documents (``syndication status``, ``serve``) does not load the renderers and the config they
need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feeds.render import FeedItem, RenderedFeed, Tombstone, render_feed

__all__ = ["FeedItem", "RenderedFeed", "Tombstone", "render_feed"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from feeds import render

        return getattr(render, name)
    raise AttributeError(f"module 'feeds' has no attribute {name!r}")
