"""``syndication backfill PATH``: load a large file of historical articles, resumably."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import click

from feeds.catalog import feed_indexer
from syndication.cli._context import CliContext, err, pass_ctx, print_json, progress
from syndication.ingest import Ingestor
from syndication.ops import Ops


def fingerprint(path: Path) -> str:
    """Identifies a file by its size and content (so a changed file starts over)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


@click.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--post", "with_posts", is_flag=True, help="Also plan social posts (off: feeds only)."
)
@click.option(
    "--rate", default=500.0, show_default=True, help="At most this many events per second."
)
@click.option(
    "--batch", default=200, show_default=True, help="Events applied per Redis round trip."
)
@click.option("--restart", is_flag=True, help="Ignore the saved position and start from line 1.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary at the end.")
@pass_ctx
def backfill(
    ctx: CliContext,
    path: Path,
    with_posts: bool,
    rate: float,
    batch: int,
    restart: bool,
    as_json: bool,
) -> None:
    """Apply historical events from a JSON Lines file (resumable).

    A rerun resumes where the previous run stopped.

    Events are validated and applied in batches; invalid lines become dead letters; the feeds
    they touch are queued for rendering. Old articles are not posted unless --post is given.
    """
    from workers.handles import PLAN_POSTS, RENDER_FEEDS

    ops = Ops(ctx.store)
    fp = fingerprint(path)
    start = 0 if restart else ops.backfill_done(fp)
    # Bytes, split on ASCII line ends only: a line that is not UTF-8 (or holds U+2028) is
    # one event, rejected on its own, not a crash or two halves.
    lines = path.read_bytes().splitlines()
    total = len(lines)
    # With --post, each applied event owes a plan (recorded by the apply itself) and the
    # workers plan the posts; without it, history is loaded and nothing is posted.
    owe = ("plan",) if with_posts and ctx.config.channels else ()
    ingestor = Ingestor(ctx.store, feed_indexer(ctx.config.feeds), ctx.settings.limits, owe=owe)
    counts = {"applied": 0, "duplicate": 0, "stale": 0, "rejected": 0}
    done = start
    if start:
        err.print(f"resuming at line {start + 1} of {total}")
    began = time.monotonic()
    with progress("backfill", total, transient=as_json) as advance:
        advance(start)
        while done < total:
            chunk = [line for line in lines[done : done + batch]]
            raws = [line for line in chunk if line.strip()]
            outcomes = ingestor.ingest_batch(raws, source=f"backfill:{path.name}")
            for outcome in outcomes:
                counts[outcome.status] += 1
            dirtied = sorted({f for o in outcomes for f in o.dirtied})
            if dirtied:
                RENDER_FEEDS.send_later(ctx.app, 0.5, dirtied)
            if owe and any(o.status == "applied" for o in outcomes):
                PLAN_POSTS.send(ctx.app)
            done += len(chunk)
            ops.set_backfill_done(fp, done)
            advance(len(chunk))
            # Bounded rate: never run ahead of `rate` events per second on average.
            ahead = (done - start) / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
    summary = {"file": str(path), "lines": total, "resumed_at": start, **counts}
    if as_json:
        print_json(summary)
    else:
        err.print(", ".join(f"{k} {v}" for k, v in counts.items()))
    if counts["rejected"]:
        raise SystemExit(1)
