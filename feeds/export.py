"""Static copies of rendered documents, for sites that serve files.

Each file is written to a temporary name in the same folder and renamed over the old one, so
a web server never serves a half-written feed. :func:`mirror_documents` also removes the
files of documents that no longer exist (a feed whose last article was retracted, a
category config no longer lists), so the folder holds exactly the current documents.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from feeds.documents import DocumentStore
from syndication.worklist import WorkList


def write_atomically(target: Path, body: bytes) -> None:
    """Replace ``target`` with ``body`` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_documents(
    storage: DocumentStore,
    paths: Iterable[str],
    folder: str | Path,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write each stored document under ``folder`` at its URL path; return how many."""
    root = Path(folder).resolve()
    n = 0
    for path in paths:
        doc = storage.get(path)
        if doc is None:
            continue
        target = (root / path.lstrip("/")).resolve()
        if root not in target.parents:
            continue  # never write outside the export folder
        write_atomically(target, doc.body)
        n += 1
        if progress:
            progress(path)
    return n


# The extensions of the files a mirror owns under ``feeds/``; anything else there is left.
_DOCUMENT_SUFFIXES = frozenset({".rss", ".atom", ".json", ".opml"})


def mirror_documents(
    storage: DocumentStore,
    paths: Iterable[str],
    folder: str | Path,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """Write ``paths`` under ``folder`` and remove the other document files under its
    ``feeds/``; return (written, removed)."""
    root = Path(folder).resolve()
    current = list(paths)
    written = export_documents(storage, current, root, progress)
    keep = {(root / p.lstrip("/")).resolve() for p in current}
    removed = 0
    feeds_dir = root / "feeds"
    if feeds_dir.is_dir():
        for file in sorted(feeds_dir.rglob("*"), reverse=True):
            if file.is_file() and file.suffix in _DOCUMENT_SUFFIXES and file.resolve() not in keep:
                file.unlink()
                removed += 1
            elif file.is_dir() and not any(file.iterdir()):
                file.rmdir()  # a folder emptied by the removals above
    return written, removed


def export_owed(storage: DocumentStore, work: WorkList, folder: str | Path) -> int:
    """Copy every document owed an export into ``folder``; return how many were written."""
    done = 0
    while taken := work.take(time.time(), 60.0, 200):
        export_documents(storage, [t.item for t in taken], folder)
        now = time.time()
        for t in taken:
            work.done(t, now)
        done += len(taken)
    return done
