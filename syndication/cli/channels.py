"""``syndication channels``: list, pause, resume and check the configured channels."""

from __future__ import annotations

from typing import TypedDict

import click

from syndication.cli._context import (
    CliContext,
    err,
    pass_ctx,
    print_json,
    print_table,
    table_options,
)
from syndication.errors import PlatformError, SyndicationError
from syndication.posts.adapters import default_adapter
from syndication.posts.ledger import Ledger


@click.group()
def channels() -> None:
    """List, pause, resume and check the configured channels."""


class _ChannelRow(TypedDict):
    name: str
    platform: str
    language: str
    paused: bool
    api_base_url: str | None
    credentials_from: list[str]
    posts: dict[str, int]


@channels.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def channels_list(ctx: CliContext, as_json: bool) -> None:
    """List channels with their platform, language and state (secrets never shown)."""
    ledger = Ledger(ctx.reader)
    paused = ledger.paused(c.name for c in ctx.config.channels)
    counts = ledger.counts()
    rows: list[_ChannelRow] = []
    for c in ctx.config.channels:
        by_status = {s: n for (_, ch, s), n in counts.items() if ch == c.name}
        rows.append(
            {
                "name": c.name,
                "platform": c.platform,
                "language": c.language,
                "paused": c.name in paused,
                "api_base_url": c.api_base_url,
                "credentials_from": sorted(c.credentials.values()),
                "posts": by_status,
            }
        )
    if as_json:
        print_json({"channels": rows})
        return
    print_table(
        "Channels",
        ["name", "platform", "lang", "state", "posts"],
        [
            [
                r["name"],
                r["platform"],
                r["language"],
                "paused" if r["paused"] else "active",
                ", ".join(f"{k} {v}" for k, v in sorted(r["posts"].items())),
            ]
            for r in rows
        ],
    )


def _channel_name(ctx: CliContext, name: str) -> str:
    try:
        return ctx.config.channel(name).name
    except SyndicationError as exc:
        raise click.ClickException(str(exc)) from None


@channels.command()
@click.argument("name")
@pass_ctx
def pause(ctx: CliContext, name: str) -> None:
    """Pause a channel: its posts wait, nothing is lost."""
    Ledger(ctx.store).pause(_channel_name(ctx, name), True)
    err.print(f"paused {name}")


@channels.command()
@click.argument("name")
@pass_ctx
def resume(ctx: CliContext, name: str) -> None:
    """Resume a paused channel: waiting posts go out on their schedule."""
    Ledger(ctx.store).pause(_channel_name(ctx, name), False)
    err.print(f"resumed {name}")


@channels.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def check(ctx: CliContext, name: str | None, as_json: bool) -> None:
    """Verify each channel's credentials against its platform (X users/me, Mastodon
    verify_credentials, ...); secrets are never printed."""
    targets = [ctx.config.channel(_channel_name(ctx, name))] if name else list(ctx.config.channels)
    rows = []
    for channel in targets:
        try:
            account = default_adapter(channel).verify()
            rows.append({"channel": channel.name, "ok": True, "account": account})
        except (PlatformError, SyndicationError) as exc:
            rows.append({"channel": channel.name, "ok": False, "error": str(exc)})
    if as_json:
        print_json({"channels": rows})
    else:
        print_table(
            "Credential check",
            ["channel", "ok", "account / error"],
            [
                [r["channel"], "yes" if r["ok"] else "NO", r.get("account") or r.get("error")]
                for r in rows
            ],
        )
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)
