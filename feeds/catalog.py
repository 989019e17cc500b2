"""Which feeds exist: the ``feeds:`` config, feed references, their paths and titles.

Pure: everything here is a function of an :class:`~syndication.events.Article` and the
:class:`FeedsConfig`. A feed is addressed by a :class:`FeedRef` (language, kind, slug) whose
``id`` (``"vi/category/heritage"``) names it in Redis and whose ``path(fmt)``
(``"/feeds/vi/category/heritage.rss"``) is where it is served and exported.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from feeds.slugs import slug_for
from syndication.config.feeds import (
    EXTENSIONS,
    FeedFormat,
    FeedKind,
    FeedsConfig,
    LanguageFeeds,
)
from syndication.errors import SyndicationError
from syndication.events import Article

__all__ = [
    "EXTENSIONS",
    "FeedFormat",
    "FeedKind",
    "FeedRef",
    "FeedsConfig",
    "LanguageFeeds",
    "UnknownFeedError",
    "article_guid",
    "feed_description",
    "feed_indexer",
    "feed_label",
    "feed_title",
    "feeds_for_article",
    "is_feed_enabled",
    "parse_feed_path",
    "site_url",
    "tag_slugs",
]

_KINDS: tuple[FeedKind, ...] = ("all", "category", "author", "tag")

_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_LANG = r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*"
_PATH = re.compile(
    rf"/feeds/(?P<lang>{_LANG})/(?:all|(?P<kind>category|author|tag)/(?P<slug>{_SLUG}))"
    r"\.(?P<fmt>rss|atom|json)"
)
_ID = re.compile(rf"(?P<lang>{_LANG})/(?:all|(?P<kind>category|author|tag)/(?P<slug>{_SLUG}))")


class UnknownFeedError(SyndicationError, LookupError):
    """No such feed: the path or id is malformed, or config does not enable it."""


@dataclass(frozen=True, order=True)
class FeedRef:
    """One feed, independent of format: ``FeedRef("vi", "category", "heritage")``."""

    language: str
    kind: FeedKind
    slug: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise UnknownFeedError(f"feed.kind: unknown kind {self.kind!r}")
        if (self.kind == "all") != (self.slug == ""):
            raise UnknownFeedError(
                f"feed.slug: {self.kind!r} feeds take {'no' if self.kind == 'all' else 'a'} slug"
            )
        if self.slug and not re.fullmatch(_SLUG, self.slug):
            raise UnknownFeedError(f"feed.slug: not a slug: {self.slug!r}")
        if not re.fullmatch(_LANG, self.language):
            raise UnknownFeedError(f"feed.language: not a language tag: {self.language!r}")

    @property
    def id(self) -> str:
        """``"vi/all"`` or ``"vi/category/heritage"``: the feed's name in storage."""
        if self.kind == "all":
            return f"{self.language}/all"
        return f"{self.language}/{self.kind}/{self.slug}"

    def path(self, fmt: FeedFormat) -> str:
        """Where the feed is served: ``"/feeds/vi/category/heritage.rss"``."""
        if fmt not in EXTENSIONS:
            raise UnknownFeedError(f"feed.format: unknown format {fmt!r}")
        return f"/feeds/{self.id}.{fmt}"

    def url(self, fmt: FeedFormat, config: FeedsConfig) -> str:
        """The absolute URL of the feed in ``fmt`` (used for ``rel="self"``)."""
        return config.base_url + self.path(fmt)

    @classmethod
    def from_id(cls, feed_id: str) -> FeedRef:
        """Parse ``"vi/category/heritage"`` back into a reference."""
        match = _ID.fullmatch(feed_id)
        if not match:
            raise UnknownFeedError(f"feed: unknown feed id {feed_id!r}")
        kind: FeedKind = _as_kind(match.group("kind"))
        return cls(match.group("lang"), kind, match.group("slug") or "")


def _as_kind(value: str | None) -> FeedKind:
    if value is None:
        return "all"
    for kind in _KINDS:
        if kind == value:
            return kind
    raise UnknownFeedError(f"feed.kind: unknown kind {value!r}")


def _as_format(value: str) -> FeedFormat:
    for fmt in EXTENSIONS:
        if fmt == value:
            return fmt
    raise UnknownFeedError(f"feed.format: unknown format {value!r}")


def tag_slugs(config: FeedsConfig) -> frozenset[str]:
    """Slugs of the tags that have feeds."""
    return frozenset(slug_for(t) for t in config.tags)


def is_feed_enabled(ref: FeedRef, config: FeedsConfig) -> bool:
    """Whether config lets ``ref`` exist (author slugs cannot be checked without articles)."""
    if config.languages and ref.language not in config.languages:
        return False
    if ref.kind == "category":
        return not config.categories or ref.slug in config.categories
    if ref.kind == "author":
        return config.authors
    if ref.kind == "tag":
        return ref.slug in tag_slugs(config)
    return True


def parse_feed_path(path: str, config: FeedsConfig | None = None) -> tuple[FeedRef, FeedFormat]:
    """Parse ``/feeds/{lang}/...{ext}`` into a reference and format.

    Raises:
        UnknownFeedError: the path is malformed, or (given ``config``) names a feed or
            format that config does not enable. The server answers 404.
    """
    match = _PATH.fullmatch(path)
    if not match:
        raise UnknownFeedError(f"path: not a feed path: {path!r}")
    ref = FeedRef(match.group("lang"), _as_kind(match.group("kind")), match.group("slug") or "")
    fmt = _as_format(match.group("fmt"))
    if config is not None and (fmt not in config.formats or not is_feed_enabled(ref, config)):
        raise UnknownFeedError(f"path: no such feed: {path!r}")
    return ref, fmt


def feeds_for_article(article: Article, config: FeedsConfig) -> frozenset[FeedRef]:
    """Every feed ``article`` belongs in: its language's ``all``, category, authors and tags."""
    authors = tuple(a.name for a in article.authors)
    return _feeds_for(article.language, article.category, authors, article.tags, config)


def _feeds_for(
    lang: str,
    category: str,
    authors: tuple[str, ...],
    tags: tuple[str, ...],
    config: FeedsConfig,
) -> frozenset[FeedRef]:
    if config.languages and lang not in config.languages:
        return frozenset()
    refs = {FeedRef(lang, "all")}
    if not config.categories or category in config.categories:
        refs.add(FeedRef(lang, "category", category))
    if config.authors:
        refs.update(
            FeedRef(lang, "author", slug_for(name, config.author_slugs)) for name in authors
        )
    if config.tags:
        wanted = tag_slugs(config)
        refs.update(
            FeedRef(lang, "tag", slug) for slug in (slug_for(t) for t in tags) if slug in wanted
        )
    return frozenset(refs)


def feed_indexer(config: FeedsConfig) -> Callable[[Article], list[str]]:
    """The ids of the feeds an article belongs in, as the ingest step wants them.

    Remembered by what decides them (language, category, bylines, tags): a newsroom sends
    the same few combinations all day, and working one out builds a dozen references.
    """

    @lru_cache(maxsize=4096)
    def ids(key: tuple[str, str, tuple[str, ...], tuple[str, ...]]) -> tuple[str, ...]:
        return tuple(sorted(ref.id for ref in _feeds_for(*key, config)))

    def index(article: Article) -> list[str]:
        names = tuple(a.name for a in article.authors)
        return list(ids((article.language, article.category, names, article.tags)))

    return index


def _language(ref: FeedRef, config: FeedsConfig) -> LanguageFeeds:
    found = config.languages.get(ref.language)
    if found is not None:
        return found
    return LanguageFeeds(title=f"{config.site_name} ({ref.language})")


def _label(slug: str, names: tuple[str, ...]) -> str:
    # Show the configured spelling of a tag or author when one maps to this slug.
    for name in names:
        if slug_for(name) == slug:
            return name
    return slug.replace("-", " ")


def feed_label(ref: FeedRef, articles: Iterable[Article], config: FeedsConfig) -> str | None:
    """The name a feed is about as its articles write it: the author's name with its
    diacritics and case (``Hoàng Anh Tuấn``, not the slug ``hoang-anh-tuan``), or the tag."""
    for article in articles:
        if ref.kind == "author":
            for author in article.authors:
                if slug_for(author.name, config.author_slugs) == ref.slug:
                    return author.name
        elif ref.kind == "tag":
            for tag in article.tags:
                if slug_for(tag) == ref.slug:
                    return tag
    return None


def feed_title(ref: FeedRef, config: FeedsConfig, label: str | None = None) -> str:
    """The feed's title: the language's title, then what the feed is about.

    Every kind and language has the same shape, ``{language title}: {name}``: the
    category's configured title for that language, else its slug made readable; an
    author's or tag's name as written (``label``, see :func:`feed_label`), else the
    configured spelling, else the slug made readable.
    """
    lang = _language(ref, config)
    if ref.kind == "all":
        return lang.title
    if ref.kind == "category":
        name = lang.category_titles.get(ref.slug) or label or _readable(ref.slug)
    elif ref.kind == "author":
        # An author's configured name reads better than the slug it maps to.
        named = [n for n, s in config.author_slugs.items() if slug_for(s) == ref.slug]
        name = label or (named[0] if named else _readable(ref.slug).title())
    else:
        name = "#" + (label or _label(ref.slug, config.tags))
    return f"{lang.title}: {name}"


def _readable(slug: str) -> str:
    words = slug.replace("-", " ")
    return words[:1].upper() + words[1:]


def feed_description(ref: FeedRef, config: FeedsConfig) -> str:
    """The feed's description from config, or a plain one built from its title."""
    lang = _language(ref, config)
    if ref.kind == "category" and ref.slug in lang.category_descriptions:
        return lang.category_descriptions[ref.slug]
    if ref.kind == "all" and lang.description:
        return lang.description
    return feed_title(ref, config)


def site_url(ref: FeedRef, config: FeedsConfig) -> str:
    """The site page a feed mirrors (its ``alternate`` link)."""
    return _language(ref, config).home_url or config.base_url + "/"


def article_guid(article_id: str, config: FeedsConfig) -> str:
    """The permanent id of an article in every feed and format (RSS guid, Atom id).

    A name-based UUID of the site and the article id: unlike the article URL it survives a
    change of slug or section, so an update never looks like a new article.
    """
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{config.base_url}/#{article_id}"))
