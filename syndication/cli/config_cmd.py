"""``syndication config check``: validate config/*.yaml with clear errors."""

from __future__ import annotations

import click

from syndication.cli._context import CliContext, err, pass_ctx
from syndication.config import load_config
from syndication.errors import ConfigError


@click.group("config")
def config_group() -> None:
    """The YAML configuration."""


@config_group.command()
@pass_ctx
def check(ctx: CliContext) -> None:
    """Validate the config folder; print every problem with file and path."""
    try:
        config = load_config(ctx.settings.config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    langs = ", ".join(sorted(config.feeds.languages)) or "every language seen"
    err.print(
        f"{ctx.settings.config_path}: ok — feeds for {langs}; "
        f"{len(config.channels)} channel(s), {len(config.routing.routes)} route(s)"
    )
