"""``syndication feeds``: list, show, render and export the feed documents."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from feeds.documents import DocumentStore
from syndication.cli._context import CliContext, err, pass_ctx, print_json, print_table


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else ""


@click.group()
def feeds() -> None:
    """The rendered RSS, Atom and JSON Feed documents."""


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def list_(ctx: CliContext, as_json: bool) -> None:
    """List every rendered document with its item count, size and last render."""
    docs = DocumentStore(ctx.store).documents()
    if as_json:
        print_json(
            {
                "documents": [
                    {
                        "path": d.path,
                        "items": d.items,
                        "bytes": d.size,
                        "etag": d.etag,
                        "last_modified": _when(d.last_modified),
                        "rendered_at": _when(d.rendered_at),
                    }
                    for d in docs
                ]
            }
        )
        return
    print_table(
        "Feed documents",
        ["path", "items", "bytes", "last render"],
        [[d.path, d.items, d.size, _when(d.rendered_at)] for d in docs],
    )


@feeds.command()
@click.argument("path")
@pass_ctx
def show(ctx: CliContext, path: str) -> None:
    """Print one document (e.g. /feeds/vi/all.rss) as served."""
    doc = DocumentStore(ctx.store).get(path if path.startswith("/") else "/" + path)
    if doc is None:
        raise click.ClickException(f"no rendered document at {path}")
    click.echo(doc.body.decode("utf-8"))


@feeds.command()
@click.option("--all", "render_all", is_flag=True, help="Render every known feed, dirty or not.")
@pass_ctx
def render(ctx: CliContext, render_all: bool) -> None:
    """Render feeds now, in this process (dirty ones, or --all)."""
    from feeds.storage import FeedStorage, refresh_feed

    storage = FeedStorage(ctx.store)
    config = ctx.config.feeds
    refs = storage.all_feeds(config)
    ids = [r.id for r in refs] if render_all else ctx.store.dirty_feeds()
    with click.progressbar(ids, label="rendering", file=sys.stderr, show_pos=True) as bar:
        for feed_id in bar:
            if render_all:
                ctx.store.mark_dirty([feed_id])
            refresh_feed(storage, config, feed_id)
    storage.render_index(refs, config)
    err.print(f"rendered {len(ids)} feed(s)")


@feeds.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@pass_ctx
def export(ctx: CliContext, folder: Path) -> None:
    """Write every rendered document under FOLDER at its URL path (atomically)."""
    from feeds.export import export_documents
    from feeds.storage import FeedStorage

    storage = FeedStorage(ctx.store)
    paths = [d.path for d in storage.documents()]
    if not paths:
        err.print("No rendered documents to export.")
        return
    with click.progressbar(
        length=len(paths), label="exporting", file=sys.stderr, show_pos=True
    ) as bar:
        n = export_documents(storage, paths, folder, progress=lambda _p: bar.update(1))
    err.print(f"exported {n} document(s) to {folder}")
