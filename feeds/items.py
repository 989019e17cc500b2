"""The values feed rendering works on: an article with its translations, a tombstone, and
a rendered document. Shared by every format's renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from syndication.events import Article


@dataclass(frozen=True)
class FeedItem:
    """An article as a feed shows it, with its translations as ``(language, url)`` pairs."""

    article: Article
    translations: tuple[tuple[str, str], ...] = ()
    # The lead image's size in bytes when the event did not declare it but the image was
    # fetched (for a post); ``None`` when unknown.
    image_length: int | None = None
    # Fragment keys computed for this item, by (format, item settings): an item is rendered
    # in every format of every feed of a round that lists it.
    keys: dict[tuple[str, str], str] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    # Their fragments, once rendered or read: a fragment never changes under its key, and a
    # process keeps the items of recent rounds, so a round looks up only its new items.
    fragments: dict[tuple[str, str], bytes] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def enclosure_length(self) -> int | None:
        """The lead image's size: declared by the event, else as fetched, else unknown."""
        image = self.article.image
        if image is None:
            return None
        return image.length or self.image_length or None

    def alternates(self) -> tuple[tuple[str, str], ...]:
        """The translations to link: one per language, never the article's own."""
        own = self.article.language
        seen: dict[str, str] = {}
        for language, url in self.translations:
            if language != own and url != self.article.url:
                seen.setdefault(language, url)
        return tuple(seen.items())


@dataclass(frozen=True)
class Tombstone:
    """An unpublished article, announced in Atom feeds as an RFC 6721 deleted entry."""

    article_id: str
    url: str
    deleted_at: datetime


@dataclass(frozen=True)
class RenderedFeed:
    """A rendered document and how many items it holds."""

    body: bytes
    item_count: int
    title: str = ""
