"""The ``syndication`` command: a root group whose subcommands live one module per group.

Shell completion is click's: ``eval "$(_SYNDICATION_COMPLETE=bash_source syndication)"`` (or
``zsh_source``, ``fish_source``) in the shell's startup file.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from syndication.cli._context import CliContext, parse_tz
from syndication.cli.articles import articles
from syndication.cli.backfill import backfill
from syndication.cli.channels import channels
from syndication.cli.config_cmd import config_group
from syndication.cli.demo_cmd import demo
from syndication.cli.dlq import dlq
from syndication.cli.feeds_cmd import feeds
from syndication.cli.posts import posts
from syndication.cli.publish import publish
from syndication.cli.run import beat, redis_group, worker
from syndication.cli.serve import serve
from syndication.cli.status import status
from syndication.logging import configure_logging


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syndication")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="syndication")
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
    # Logs go to stderr (stdout is for tables and --json); commands that run services
    # (worker, beat, serve) reconfigure with their own --loglevel.
    configure_logging(os.environ.get("SYNDICATION_LOG_LEVEL", "WARNING"))
    ctx.obj = CliContext(
        {
            "redis_url": redis_url,
            "config_path": config_path,
            "prefix": prefix,
            "data_dir": data_dir,
        },
        tz=parse_tz(tz),
    )


for command in (
    publish,
    backfill,
    status,
    demo,
    dlq,
    feeds,
    articles,
    posts,
    channels,
    config_group,
    worker,
    beat,
    redis_group,
):
    cli.add_command(command)
cli.add_command(serve)


def _whole_short_help(command: click.Command) -> None:
    # Click cuts a command's summary in the list to fit one line ("Print one document
    # (e.g."); the whole first paragraph reads better, wrapped under its command.
    if command.help and not command.short_help:
        command.short_help = " ".join(command.help.split("\n\n", 1)[0].split())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _whole_short_help(sub)


_whole_short_help(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="syndication")
