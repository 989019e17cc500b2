"""``syndication status``: one screen with everything an operator checks first."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from syndication.cli._context import CliContext, err, is_terminal, out, pass_ctx, print_json
from syndication.views.snapshot import reading_for, snapshot


def _age(seconds: object) -> str:
    return "-" if seconds is None else f"{seconds} s ago"


def render_snapshot(snap: dict[str, Any]) -> RenderableType:
    """The status screen as one rich renderable."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    reading = snap["reading"]
    grid.add_row(
        "reading",
        Text(
            f"{reading['redis']}{' (embedded)' if reading['embedded'] else ''}; "
            f"prefix {reading['prefix']}; config {reading['config']}"
        ),
    )
    grid.add_row("queues", "  ".join(f"{k} {v}" for k, v in snap["queues"].items()))
    owed = snap["owed"]
    grid.add_row(
        "work owed",
        "  ".join(f"{stage} {o['owed']} ({o['due_now']} due)" for stage, o in owed.items()),
    )
    for role in ("workers_seen_seconds_ago", "beat_seen_seconds_ago"):
        seen = snap[role]
        label = role.split("_")[0]
        grid.add_row(label, ", ".join(f"{n} ({a} s ago)" for n, a in seen.items()) or "none seen")
    grid.add_row("articles", str(snap["articles"]))
    feeds = snap["feeds"]
    grid.add_row(
        "feeds",
        f"{feeds['documents']} documents; last render {_age(feeds['newest_render_age'])}, "
        f"oldest {_age(feeds['oldest_render_age'])}",
    )
    grid.add_row("posts waiting", f"{snap['posts_waiting']} ({snap['posts_due_now']} due now)")
    grid.add_row("dead letters", str(snap["dead_letters"]))
    redis_info = snap["redis"]
    grid.add_row(
        "redis",
        f"{'embedded' if redis_info['embedded'] else 'server'}; "
        f"AOF {'on' if redis_info['aof_enabled'] else 'OFF'}; "
        f"maxmemory-policy {redis_info['maxmemory_policy']}",
    )
    parts: list[RenderableType] = [grid]
    posts = snap["posts"]
    if posts:
        statuses = sorted({s for counts in posts.values() for s in counts})
        table = Table(title="Posts per channel", title_justify="left")
        table.add_column("channel")
        for s in statuses:
            table.add_column(s, justify="right")
        for channel, counts in posts.items():
            table.add_row(channel, *[str(counts.get(s, 0)) for s in statuses])
        parts.append(table)
    for warning in snap["warnings"]:
        parts.append(Text.assemble(("warning: ", "yellow"), warning))
    return Group(*parts)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--watch",
    "watch",
    is_flag=False,
    flag_value=2.0,
    default=None,
    type=click.FloatRange(min=0.2),
    metavar="[SECONDS]",
    help="Refresh in place every SECONDS (default 2) until Ctrl-C.",
)
@pass_ctx
def status(ctx: CliContext, as_json: bool, watch: float | None) -> None:
    """Show queues, workers, beat, feeds, posts per channel, dead letters and Redis health.

    Reads only: when the embedded Redis is not running it says so instead of starting it.
    """
    store = ctx.reader
    reading = reading_for(ctx.settings)
    if as_json:
        print_json(snapshot(store, reading, time.time()))
        return
    if watch is None or not is_terminal():
        out.print(render_snapshot(snapshot(store, reading, time.time())))
        return
    from rich.live import Live

    with Live(console=out, auto_refresh=False, screen=False) as live:
        try:
            while True:
                live.update(render_snapshot(snapshot(store, reading, time.time())), refresh=True)
                time.sleep(watch)
        except KeyboardInterrupt:
            err.print("stopped watching")
