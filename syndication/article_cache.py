"""Parsed article revisions kept per process.

Renders read the same stored revisions over and over, and validating an article's JSON is
most of a render's cost; a few hundred revisions cover every hot feed. Revisions are found by
their bytes (a new revision is new bytes) or by (id, stored version).
"""

from __future__ import annotations

from collections import OrderedDict

from syndication.events import Article

__all__ = ["ARTICLE_CACHE", "ArticleCache"]

ARTICLE_CACHE = 2048
# Stored articles were sanitised on the way in; re-reading them skips the HTML sanitiser.
_TRUSTED = {"trusted": True}


class ArticleCache:
    """The most recently used parsed revisions, ``size`` of each kind at most."""

    def __init__(self, size: int = ARTICLE_CACHE) -> None:
        self.size = size
        self._by_bytes: OrderedDict[bytes, Article] = OrderedDict()
        self._by_version: OrderedDict[tuple[str, str], Article] = OrderedDict()

    def parse(self, raw: bytes | str) -> Article:
        """The article stored as ``raw``, parsed once per process."""
        key = raw if isinstance(raw, bytes) else raw.encode()
        article = self._by_bytes.get(key)
        if article is not None:
            self._by_bytes.move_to_end(key)
            return article
        article = self._by_bytes[key] = Article.model_validate_json(raw, context=_TRUSTED)
        if len(self._by_bytes) > self.size:
            self._by_bytes.popitem(last=False)
        return article

    def at_version(self, article_id: str, version: str) -> Article | None:
        """The revision stored at ``version``, if this process parsed it."""
        article = self._by_version.get((article_id, version))
        if article is not None:
            self._by_version.move_to_end((article_id, version))
        return article

    def keep(self, article_id: str, version: str, raw: bytes | str) -> Article:
        """Parse ``raw`` (the revision stored at ``version``) and keep it under that version."""
        article = self._by_version[(article_id, version)] = self.parse(raw)
        if len(self._by_version) > self.size:
            self._by_version.popitem(last=False)
        return article
