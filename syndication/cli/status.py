"""``syndication status``: one screen with everything an operator checks first."""

from __future__ import annotations

import time

import click
from rich.table import Table

from feeds.documents import DocumentStore
from syndication.cli._context import CliContext, out, pass_ctx, print_json
from syndication.keys import QUEUES
from syndication.ops import Ops
from syndication.posts.ledger import Ledger

# A worker or beat not seen for this long is reported as gone.
STALE = 60.0


def snapshot(ctx: CliContext, now: float) -> dict[str, object]:
    """Everything the status screen shows, as plain JSON."""
    store = ctx.store
    ops = Ops(store)
    docs = DocumentStore(store).documents()
    ages = [now - d.rendered_at for d in docs if d.rendered_at]
    due_total, due_now = ops.due_counts(now)
    persistence = ops.persistence()
    embedded = ctx.settings.redis_url is None
    warnings = []
    if persistence["aof_enabled"] != "1" and not embedded:
        warnings.append(
            "Redis persistence: AOF is off; a restart can lose queued events (appendonly yes)"
        )
    if persistence["maxmemory_policy"] not in ("noeviction", "unknown"):
        warnings.append(
            f"Redis maxmemory-policy is {persistence['maxmemory_policy']}: use noeviction"
        )
    workers = {n: round(now - t, 1) for n, t in ops.heartbeats("worker").items()}
    beats = {n: round(now - t, 1) for n, t in ops.heartbeats("beat").items()}
    if not any(age < STALE for age in workers.values()):
        warnings.append("no worker seen in the last minute")
    if not any(age < STALE for age in beats.values()):
        warnings.append(
            "no beat seen in the last minute (posts are not dispatched, inbox not drained)"
        )
    posts: dict[str, dict[str, int]] = {}
    for (_platform, channel, status), n in sorted(Ledger(store).counts().items()):
        posts.setdefault(channel, {})[status] = n
    dead = store.count_dead_letters()
    if dead:
        warnings.append(f"{dead} dead letter(s): syndication dlq list")
    return {
        "redis": {"embedded": embedded, **persistence},
        "queues": {
            **ops.queue_lengths(QUEUES),
            "inbox": store.inbox_length(),
            "inbox_pending": store.inbox_pending(),
            "dirty_feeds": len(store.dirty_feeds()),
        },
        "workers_seen_seconds_ago": workers,
        "beat_seen_seconds_ago": beats,
        "articles": store.count_articles(),
        "feeds": {
            "documents": len(docs),
            "newest_render_age": round(min(ages), 1) if ages else None,
            "oldest_render_age": round(max(ages), 1) if ages else None,
        },
        "posts": posts,
        "posts_waiting": due_total,
        "posts_due_now": due_now,
        "dead_letters": dead,
        "warnings": warnings,
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def status(ctx: CliContext, as_json: bool) -> None:
    """Show queues, workers, beat, feeds, posts per channel, dead letters and Redis health."""
    snap = snapshot(ctx, time.time())
    if as_json:
        print_json(snap)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    queues = snap["queues"]
    assert isinstance(queues, dict)  # noqa: S101 - built just above
    grid.add_row("queues", "  ".join(f"{k} {v}" for k, v in queues.items()))
    for role in ("workers_seen_seconds_ago", "beat_seen_seconds_ago"):
        seen = snap[role]
        assert isinstance(seen, dict)  # noqa: S101
        label = role.split("_")[0]
        grid.add_row(label, ", ".join(f"{n} ({a}s ago)" for n, a in seen.items()) or "none seen")
    grid.add_row("articles", str(snap["articles"]))
    feeds = snap["feeds"]
    assert isinstance(feeds, dict)  # noqa: S101
    grid.add_row(
        "feeds",
        f"{feeds['documents']} documents; last render {feeds['newest_render_age']} s ago, "
        f"oldest {feeds['oldest_render_age']} s ago",
    )
    grid.add_row("posts waiting", f"{snap['posts_waiting']} ({snap['posts_due_now']} due now)")
    grid.add_row("dead letters", str(snap["dead_letters"]))
    redis_info = snap["redis"]
    assert isinstance(redis_info, dict)  # noqa: S101
    grid.add_row(
        "redis",
        f"{'embedded' if redis_info['embedded'] else 'server'}; "
        f"AOF {'on' if redis_info['aof_enabled'] == '1' else 'OFF'}; "
        f"maxmemory-policy {redis_info['maxmemory_policy']}",
    )
    out.print(grid)
    posts = snap["posts"]
    assert isinstance(posts, dict)  # noqa: S101
    if posts:
        statuses = sorted({s for counts in posts.values() for s in counts})
        table = Table(title="Posts per channel", title_justify="left")
        table.add_column("channel")
        for s in statuses:
            table.add_column(s, justify="right")
        for channel, counts in posts.items():
            table.add_row(channel, *[str(counts.get(s, 0)) for s in statuses])
        out.print(table)
    for warning in snap["warnings"]:  # type: ignore[attr-defined]
        out.print(f"[yellow]warning:[/yellow] {warning}")
