"""Rendered documents (feeds, the OPML index) in Redis: gzip bytes, ETag, Last-Modified.

Written by the render workers (``feeds.storage``), read by ``syndication serve`` and the CLI.
A document's Last-Modified moves only when its bytes change, and its ETag is strong (from
the content), so conditional GETs stay cheap and correct.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from syndication.store import Store, members, text_of
from syndication.worklist import WorkList

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "opml": "text/x-opml; charset=utf-8",
}
OPML_PATH = "/feeds/index.opml"


# Documents are stored gzip-compressed at this level of ISA-L's gzip (levels 0-3): a busy feed
# is rendered several times a second, and at rest its bytes pass through Redis and its
# append-only file, where a tenth of them is a tenth of the work. ISA-L's level 1 compresses a
# feed about five times faster than zlib's fastest level and a little smaller; the output is
# plain gzip (RFC 1952) that every client and the standard library read.
GZIP_LEVEL = 1


# Recorded with each document: what it is stored as.
_FORMAT = "gzip"


def compress(body: bytes) -> bytes:
    """``body`` as stored and sent to clients that accept gzip (no timestamp: the same
    body always gives the same bytes)."""
    # Imported here: commands that only read documents (``status``) never need it.
    from isal import igzip

    return igzip.compress(body, GZIP_LEVEL, mtime=0)


@dataclass(frozen=True)
class Document:
    """One rendered document as served."""

    path: str
    gzip: bytes
    etag: str
    last_modified: float
    content_type: str
    items: int
    rendered_at: float

    @cached_property
    def body(self) -> bytes:
        """The document's bytes (decompressed when first asked)."""
        return gzip.decompress(self.gzip)


@dataclass(frozen=True)
class DocumentInfo:
    """A document's metadata without its bytes (for listings and freshness checks)."""

    path: str
    etag: str
    last_modified: float
    size: int
    items: int
    rendered_at: float
    title: str = ""


def etag_of(body: bytes) -> str:
    """A strong ETag computed from the bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _bytes_of(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


@dataclass(frozen=True)
class NewDocument:
    """A freshly rendered document to store."""

    path: str
    body: bytes = field(repr=False)
    content_type: str
    items: int
    title: str = ""


class DocumentStore:
    """Rendered documents under the store's prefix."""

    def __init__(self, store: Store) -> None:
        self.r = store.r
        self.keys = store.keys

    def put(
        self,
        path: str,
        body: bytes,
        content_type: str,
        items: int,
        now: float,
        *,
        owe: Sequence[WorkList] = (),
        title: str = "",
    ) -> bool:
        """Store a document; keep its Last-Modified when the bytes did not change.

        When the bytes changed, the path is recorded in each of the ``owe`` work lists (a
        WebSub ping, an export) in the same transaction as the new bytes.
        """
        return bool(
            self.put_many([NewDocument(path, body, content_type, items, title)], now, owe=owe)
        )

    def put_many(
        self,
        docs: Sequence[NewDocument],
        now: float,
        *,
        owe: Sequence[WorkList] = (),
        also: Callable[[Pipeline], None] | None = None,
    ) -> list[str]:
        """Store documents in two round trips (read the old ETags, write in one transaction);
        return the paths whose bytes changed. ``also`` adds writes to the same transaction."""
        if not docs:
            return []
        pipe = self.r.pipeline(transaction=False)
        for doc in docs:
            pipe.hmget(self.keys.rendered(doc.path), "etag", "format")
        # A document an older release stored (uncompressed, no format) is rewritten whole.
        stored = pipe.execute()
        old = [etag if text_of(form) == _FORMAT else None for etag, form in stored]
        legacy = {d.path for d, (etag, form) in zip(docs, stored, strict=True) if etag and not form}
        changed: list[str] = []
        pipe = self.r.pipeline()
        for doc, before in zip(docs, old, strict=True):
            etag = etag_of(doc.body)
            mapping: dict[FieldT, EncodableT] = {
                "rendered_at": now,
                "items": doc.items,
                "title": doc.title,
            }
            if text_of(before) != etag:
                changed.append(doc.path)
                mapping.update(
                    {
                        "gzip": compress(doc.body),
                        "format": _FORMAT,
                        "etag": etag,
                        "last_modified": float(int(now)),
                        "content_type": doc.content_type,
                        "size": len(doc.body),
                    }
                )
            pipe.hset(self.keys.rendered(doc.path), mapping=mapping)
            if doc.path in legacy:
                pipe.hdel(self.keys.rendered(doc.path), "body")  # as an older release kept it
        pipe.zadd(self.keys.rendered_index, {doc.path: now for doc in docs})
        if changed:
            for work in owe:
                work.add(changed, now, client=pipe)
        if also is not None:
            also(pipe)
        pipe.execute()
        return changed

    def get(self, path: str) -> Document | None:
        """A stored document, or None."""
        data = self.r.hgetall(self.keys.rendered(path))
        if not data or not (b"gzip" in data or b"body" in data):
            return None
        if b"body" in data:  # written by an older release, uncompressed
            data[b"gzip"] = compress(_bytes_of(data[b"body"]))
        return Document(
            path,
            _bytes_of(data[b"gzip"]),
            text_of(data[b"etag"]),
            float(data[b"last_modified"]),
            text_of(data[b"content_type"]),
            int(data.get(b"items", 0)),
            float(data.get(b"rendered_at", 0)),
        )

    def etag(self, path: str) -> str | None:
        """Just the ETag of a stored document (a cheap freshness check)."""
        value = self.r.hget(self.keys.rendered(path), "etag")
        return text_of(value) or None

    def documents(self) -> list[DocumentInfo]:
        """Every stored document's metadata, by path."""
        paths = sorted(members(self.r.zrange(self.keys.rendered_index, 0, -1)))
        pipe = self.r.pipeline(transaction=False)
        for path in paths:
            pipe.hmget(
                self.keys.rendered(path),
                "etag",
                "last_modified",
                "size",
                "items",
                "rendered_at",
                "title",
            )
        out = []
        for path, (etag, modified, size, items, rendered, title) in zip(
            paths, pipe.execute(), strict=True
        ):
            if etag:
                out.append(
                    DocumentInfo(
                        path,
                        text_of(etag),
                        float(modified or 0),
                        int(size or 0),
                        int(items or 0),
                        float(rendered or 0),
                        text_of(title),
                    )
                )
        return out
