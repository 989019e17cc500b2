"""``syndication feeds``: list, show, render and export the feed documents."""

from __future__ import annotations

from pathlib import Path

import click

from feeds.documents import DocumentStore
from syndication.cli._context import (
    CliContext,
    err,
    pass_ctx,
    print_json,
    print_table,
    progress,
    table_options,
)


@click.group()
def feeds() -> None:
    """The rendered RSS, Atom and JSON Feed documents."""


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def list_(ctx: CliContext, as_json: bool) -> None:
    """List every rendered document with its item count, size and last render."""
    docs = DocumentStore(ctx.reader).documents()
    if as_json:
        print_json(
            {
                "documents": [
                    {
                        "path": d.path,
                        "items": d.items,
                        "bytes": d.size,
                        "etag": d.etag,
                        "last_modified": ctx.when(d.last_modified),
                        "rendered_at": ctx.when(d.rendered_at),
                    }
                    for d in docs
                ]
            }
        )
        return
    print_table(
        "Feed documents",
        ["path", "items", "bytes", "last render"],
        [[d.path, d.items, d.size, ctx.when(d.rendered_at)] for d in docs],
        numeric=("items", "bytes"),
    )


@feeds.command()
@click.argument("path")
@pass_ctx
def show(ctx: CliContext, path: str) -> None:
    """Print one document as served, by its path: /feeds/vi/all.rss."""
    doc = DocumentStore(ctx.reader).get(path if path.startswith("/") else "/" + path)
    if doc is None:
        raise click.ClickException(f"no rendered document at {path}")
    click.echo(doc.body.decode("utf-8"))


# Feeds rendered together (they share their reads and their write).
RENDER_CHUNK = 10


@feeds.command()
@click.option("--all", "render_all", is_flag=True, help="Render every known feed, dirty or not.")
@pass_ctx
def render(ctx: CliContext, render_all: bool) -> None:
    """Render feeds now, in this process (dirty ones, or --all), with their news sitemaps."""
    from feeds.storage import FeedStorage, refresh_feeds

    storage = FeedStorage(ctx.store, sitemaps=ctx.config.search.sitemaps)
    config = ctx.config.feeds
    refs = storage.all_feeds(config)
    ids = [r.id for r in refs] if render_all else ctx.store.dirty_feeds()
    with progress("rendering", len(ids)) as advance:
        for start in range(0, len(ids), RENDER_CHUNK):
            chunk = ids[start : start + RENDER_CHUNK]
            if render_all:
                ctx.store.mark_dirty(chunk)
            refresh_feeds(storage, config, chunk)
            advance(len(chunk))
    storage.render_index(refs, config)
    storage.refresh_sitemaps(config)
    err.print(f"rendered {len(ids)} feed(s)")


@feeds.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@pass_ctx
def export(ctx: CliContext, folder: Path) -> None:
    """Mirror every current document (feeds, index.opml and the news sitemaps) under FOLDER
    at its URL path.

    Files are written atomically; document files of feeds that no longer exist are removed.
    """
    from importlib.resources import files

    from feeds.catalog import UnknownFeedError, parse_feed_path
    from feeds.documents import OPML_PATH
    from feeds.export import mirror_documents, write_atomically
    from feeds.render import STYLESHEET_PATH
    from feeds.sitemaps import is_sitemap_enabled
    from feeds.storage import FeedStorage

    storage = FeedStorage(ctx.store)
    config = ctx.config.feeds
    storage.render_index(storage.all_feeds(config), config)  # the index as of now

    def served(path: str) -> bool:
        # The same rule the server applies: a document config no longer enables is gone.
        if is_sitemap_enabled(path, ctx.config.search.sitemaps, config):
            return True
        try:
            return path == OPML_PATH or bool(parse_feed_path(path, config))
        except UnknownFeedError:
            return False

    paths = [d.path for d in storage.documents() if served(d.path)]
    with progress("exporting", len(paths)) as advance:
        written, removed = mirror_documents(storage, paths, folder, lambda _p: advance(1))
    # The stylesheet the RSS and Atom files name, so a browser shows them as pages there too.
    stylesheet = files("syndication").joinpath("templates", "feed.xsl").read_bytes()
    write_atomically(folder / STYLESHEET_PATH.lstrip("/"), stylesheet)
    err.print(f"exported {written} document(s) to {folder}; removed {removed} old file(s)")
