"""``syndication posts`` and ``syndication channels``: the social side for operators."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from syndication.cli._context import (
    CliContext,
    err,
    is_terminal,
    out,
    pass_ctx,
    print_json,
    print_table,
    table_options,
    tz_option,
)
from syndication.errors import StoreError, SyndicationError
from syndication.events import Article
from syndication.posts.decide import Situation, decide
from syndication.posts.ledger import OPEN, Ledger, Post, PostStatus
from syndication.posts.planner import compose


def history_of(post: Post) -> list[dict[str, object]]:
    """The post's history, each entry with the status the post had after it (an edit or a
    note keeps the status before it) and its time as a number."""
    entries: list[dict[str, object]] = []
    status = ""
    for entry in post.history:
        status = str(entry.get("status") or "") or status
        at = entry.get("at")
        entries.append(
            {
                "at": float(at) if isinstance(at, int | float | str) and at != "" else None,
                "status": status or post.status.value,
                "note": str(entry.get("note") or ""),
            }
        )
    return entries


def _doc(ctx: CliContext, post: Post, *, full: bool = False) -> dict[str, object]:
    when = ctx.when
    doc: dict[str, object] = {
        "id": post.id,
        "channel": post.channel,
        "platform": post.platform,
        "article_id": post.article_id,
        "status": post.status.value,
        "due_at": when(post.due_at),
        "attempts": post.attempts,
        "remote_id": post.remote_id or None,
        "remote_url": post.remote_url or None,
        "sent_at": when(post.sent_at) or None,
        "last_error": post.last_error or None,
        "approved": post.approved,
        "note": post.note or None,
    }
    if full:
        doc.update(
            text=post.text,
            link=post.link,
            idempotency_key=post.idempotency_key,
            created_at=when(post.created_at),
            updated_at=when(post.updated_at),
            history=[
                {**h, "at": when(h["at"]) if isinstance(h["at"], float) else None}
                for h in history_of(post)
            ],
        )
    return doc


def _article(ctx: CliContext, article_id: str) -> Article:
    article = ctx.reader.get_article(article_id)
    if article is None:
        raise click.ClickException(f"no article {article_id!r}")
    return article


def _post(ledger: Ledger, post_id: str) -> Post:
    try:
        return ledger.require(post_id)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def posts() -> None:
    """Inspect and steer the social posts ledger."""


@posts.command("list")
@click.option("--status", type=click.Choice([s.value for s in PostStatus]), default=None)
@click.option("--channel", default=None)
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def list_(
    ctx: CliContext, status: str | None, channel: str | None, limit: int, as_json: bool
) -> None:
    """List posts, newest first."""
    ledger = Ledger(ctx.reader)
    found = [
        p
        for p in ledger.many(ledger.all_ids(limit=100_000))
        if (status is None or p.status == status) and (channel is None or p.channel == channel)
    ]
    found = found[:limit]
    if as_json:
        print_json({"posts": [_doc(ctx, p) for p in found]})
        return
    print_table(
        "Posts",
        ["id", "status", "due", "attempts", "remote", "last error"],
        [
            [
                p.id,
                p.status.value,
                ctx.when(p.due_at),
                p.attempts,
                p.remote_url or p.remote_id,
                p.last_error,
            ]
            for p in found
        ],
        numeric=("attempts",),
    )


@posts.command()
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@tz_option
@pass_ctx
def show(ctx: CliContext, post_id: str, as_json: bool) -> None:
    """Show one post: status, times, text, remote URL and its history."""
    post = _post(Ledger(ctx.reader), post_id)
    doc = _doc(ctx, post, full=True)
    if as_json:
        print_json(doc)
        return
    from rich.table import Table
    from rich.text import Text

    from syndication.decoding import printable

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold" if is_terminal() else "")
    fields.add_column(overflow="fold")
    for name in (
        "id", "status", "channel", "platform", "article_id", "due_at", "sent_at",
        "created_at", "updated_at", "attempts", "approved", "remote_url", "remote_id",
        "last_error", "note", "link",
    ):  # fmt: skip
        value = doc.get(name)
        if value not in (None, ""):
            fields.add_row(name.replace("_", " "), Text(printable(str(value))))
    out.print(fields)
    out.print("\ntext:", style="bold" if is_terminal() else "")
    out.print(Text(printable(post.text, keep_lines=True)))
    history = doc["history"]
    assert isinstance(history, list)  # noqa: S101 - built by _doc
    out.print("\nhistory:", style="bold" if is_terminal() else "")
    table = Table.grid(padding=(0, 2))
    for _ in range(3):
        table.add_column(overflow="fold")
    for entry in history:
        table.add_row(str(entry["at"] or ""), str(entry["status"]), Text(printable(entry["note"])))
    out.print(table)


@posts.command()
@click.argument("post_id")
@pass_ctx
def cancel(ctx: CliContext, post_id: str) -> None:
    """Cancel a post that was not sent yet (or drop an uncertain one)."""
    ledger = Ledger(ctx.store)
    post = _post(ledger, post_id)
    now = time.time()
    ok = ledger.cancel(post_id, now, "cancelled by an operator") or ledger.transition(
        post_id, PostStatus.UNCERTAIN, PostStatus.CANCELLED, now, "cancelled by an operator"
    )
    if not ok:
        raise click.ClickException(
            f"{post_id} is {post.status.value}: only planned or uncertain posts can be cancelled"
        )
    err.print(f"cancelled {post_id}")


@posts.command()
@click.argument("post_id")
@pass_ctx
def retry(ctx: CliContext, post_id: str) -> None:
    """Send a failed or uncertain post again now (an operator's decision)."""
    ledger = Ledger(ctx.store)
    post = _post(ledger, post_id)
    now = time.time()
    if ledger.transition(
        post_id,
        (PostStatus.FAILED, PostStatus.UNCERTAIN),
        PostStatus.PLANNED,
        now,
        "retry asked by an operator: due now",
        due_at=now,
        attempts=0,
    ):
        err.print(f"{post_id} is due now")
        return
    raise click.ClickException(
        f"{post_id} is {post.status.value}: only failed or uncertain posts can be retried"
    )


@posts.command()
@click.argument("post_id")
@pass_ctx
def approve(ctx: CliContext, post_id: str) -> None:
    """Approve a post on a channel that requires approval."""
    ledger = Ledger(ctx.store)
    post = _post(ledger, post_id)
    if post.approved or post.status not in OPEN:
        raise click.ClickException(f"{post_id} does not await approval ({post.status.value})")
    now = time.time()
    ledger.update(post_id, now, "approved by an operator", approved=True)
    ledger.schedule(post_id, max(post.due_at, now), now, "approved")
    err.print(f"approved {post_id}, due {ctx.when(max(post.due_at, now))}")


@posts.command()
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def preview(ctx: CliContext, article_id: str, as_json: bool) -> None:
    """Show what each routed channel would post for an article, fitted, without posting."""
    from syndication.posts.routing import route_article

    article = _article(ctx, article_id)
    rows = []
    for name in route_article(article, ctx.config.routing, ctx.config.channels):
        channel = ctx.config.channel(name)
        try:
            text = compose(channel, article)
        except SyndicationError as exc:
            text = f"(cannot fit: {exc})"
        rows.append({"channel": name, "platform": channel.platform, "text": text})
    if as_json:
        print_json({"article": article_id, "previews": rows})
        return
    for row in rows:
        click.echo(f"── {row['channel']} ({row['platform']}) ──\n{row['text']}\n")
    if not rows:
        err.print("No channel routes this article.")


@posts.command()
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def explain(ctx: CliContext, article_id: str, as_json: bool) -> None:
    """Explain, per channel, why an article was or was not posted, and when it will be."""
    from syndication.posts import Posts
    from syndication.posts.routing import route_article

    article = _article(ctx, article_id)
    planner = Posts(ctx.reader, ctx.config).planner
    ledger = planner.ledger
    routed = set(route_article(article, ctx.config.routing, ctx.config.channels))
    paused = ledger.paused(c.name for c in ctx.config.channels)
    rows = []
    now = datetime.now(UTC)
    for channel in ctx.config.channels:
        situation = planner.situation(channel, article, channel.name in routed)
        post = situation.post
        if post is not None:
            why = f"{post.status.value}" + (
                f", due {ctx.when(post.due_at)}" if post.status in OPEN else ""
            )
            why += "; channel paused" if channel.name in paused else ""
            why += "; awaiting approval" if not post.approved else ""
            why += f"; {post.last_error}" if post.last_error else ""
        else:
            # The planner's own rules, on what the ledger holds now.
            decision = decide(
                channel, article, Situation(situation.routed, None, situation.owner), now
            )
            why = "not planned yet" if decision.action == "planned" else decision.reason
        rows.append({"channel": channel.name, "post": post.id if post else None, "why": why})
    if as_json:
        print_json({"article": article_id, "channels": rows})
    else:
        print_table(
            f"Why {article_id}",
            ["channel", "post", "why"],
            [[r["channel"], r["post"], r["why"]] for r in rows],
        )
