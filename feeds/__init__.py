"""Feed rendering: RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents, and the OPML index."""

from feeds.render import FeedItem, RenderedFeed, Tombstone, render_feed

__all__ = ["FeedItem", "RenderedFeed", "Tombstone", "render_feed"]
