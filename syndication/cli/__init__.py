"""The ``syndication`` command: a root group whose subcommands live one module per group.

The root imports only click: each subcommand's module (and with it pydantic, redis, rich,
Celery, the platform clients) is imported when that subcommand runs, so ``--help`` and the
light commands start fast. :data:`COMMANDS` lists every subcommand with its one-line help (a
test checks it against the commands themselves).

Shell completion is click's: ``eval "$(_SYNDICATION_COMPLETE=bash_source syndication)"`` (or
``zsh_source``, ``fish_source``) in the shell's startup file.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click

# name -> ("module:attribute", one-line help), in the order ``--help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "publish": (
        "syndication.cli.publish:publish",
        "Validate and publish events from PATH (a JSON object, array or JSON Lines; - for stdin).",
    ),
    "backfill": (
        "syndication.cli.backfill:backfill",
        "Apply historical events from a JSON Lines file (resumable).",
    ),
    "status": (
        "syndication.cli.status:status",
        "Show queues, workers, beat, feeds, posts per channel, dead letters and Redis health.",
    ),
    "story": (
        "syndication.cli.story:story",
        "Show every place a story reached and its state there, with a verdict.",
    ),
    "demo": (
        "syndication.cli.demo_cmd:demo",
        "Run everything on the sample articles: Redis, sandboxes, worker, beat, server.",
    ),
    "dlq": ("syndication.cli.dlq:dlq", "Inspect and replay rejected events (dead letters)."),
    "feeds": ("syndication.cli.feeds_cmd:feeds", "The rendered RSS, Atom and JSON Feed documents."),
    "articles": ("syndication.cli.articles:articles", "Inspect stored articles."),
    "posts": ("syndication.cli.posts:posts", "Inspect and steer the social posts ledger."),
    "channels": (
        "syndication.cli.channels:channels",
        "List, pause, resume and check the configured channels.",
    ),
    "config": ("syndication.cli.config_cmd:config_group", "The YAML configuration."),
    "worker": ("syndication.cli.run:worker", "Run a Celery worker on the given queues."),
    "beat": ("syndication.cli.run:beat", "Run the beat scheduler (exactly one per deployment)."),
    "redis": (
        "syndication.cli.run:redis_group",
        "The embedded Redis (used when REDIS_URL is not set).",
    ),
    "serve": ("syndication.cli.serve:serve", "Serve feeds and take signed events over HTTP."),
}


def whole_short_help(command: click.Command) -> click.Command:
    """Show a command's whole first paragraph in lists (click cuts it to fit one line:
    "Print one document (e.g."), for it and its subcommands."""
    if command.help and not command.short_help:
        command.short_help = " ".join(command.help.split("\n\n", 1)[0].split())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            whole_short_help(sub)
    return command


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when the subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand, in :data:`COMMANDS` order."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The subcommand, imported now."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target[0].partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return whole_short_help(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table, without importing a single command."""
        rows = [(name, short) for name, (_, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", "-V", package_name="syndication", prog_name="syndication")
@click.option(
    "--redis-url",
    envvar="REDIS_URL",
    default=None,
    show_envvar=True,
    help="Redis server URL (redis://, rediss://, unix://); unset: the embedded Redis.",
)
@click.option(
    "--config",
    "config_path",
    envvar="SYNDICATION_CONFIG_PATH",
    type=click.Path(path_type=Path),
    default=None,
    show_envvar=True,
    help="Config folder (default: ./config).",
)
@click.option(
    "--prefix",
    envvar="SYNDICATION_PREFIX",
    default=None,
    show_envvar=True,
    help="Key prefix in Redis (default: synd).",
)
@click.option(
    "--data-dir",
    envvar="SYNDICATION_DATA_DIR",
    type=click.Path(path_type=Path),
    default=None,
    show_envvar=True,
    help="Folder of the embedded Redis and local state (default: ./data).",
)
@click.option(
    "--tz",
    envvar="SYNDICATION_TZ",
    default=None,
    show_envvar=True,
    metavar="ZONE",
    help="Time zone of printed times, e.g. Asia/Ho_Chi_Minh or UTC (default: local).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    redis_url: str | None,
    config_path: Path | None,
    prefix: str | None,
    data_dir: Path | None,
    tz: str | None,
) -> None:
    """Feeds and social posts for a multilingual news portal, driven by article events.

    Shell completion: eval "$(_SYNDICATION_COMPLETE=bash_source syndication)" (zsh_source,
    fish_source for other shells).
    """
    from syndication.cli._context import CliContext, parse_tz
    from syndication.logging import configure_logging

    # Logs go to stderr (stdout is for tables and --json); commands that run services
    # (worker, beat, serve) reconfigure with their own --loglevel.
    configure_logging(os.environ.get("SYNDICATION_LOG_LEVEL", "WARNING"))
    overrides: dict[str, Any] = {
        "redis_url": redis_url,
        "config_path": config_path,
        "prefix": prefix,
        "data_dir": data_dir,
    }
    ctx.obj = CliContext(overrides, tz=parse_tz(tz))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="syndication")
