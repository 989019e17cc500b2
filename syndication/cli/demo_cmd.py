"""``syndication demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from syndication.cli._context import CliContext, pass_ctx


@click.command()
@click.option("--port", default=8000, show_default=True, help="Port of the feed server.")
@click.option(
    "--samples",
    type=click.Path(path_type=Path, exists=True),
    default=Path("config/samples/events.jsonl"),
    show_default=True,
)
@click.option(
    "--keep-running/--exit",
    default=None,
    help="Keep running until Ctrl-C (default: on a terminal only).",
)
@pass_ctx
def demo(ctx: CliContext, port: int, samples: Path, keep_running: bool | None) -> None:
    """Run everything on the sample articles: Redis, sandboxes, worker, beat, server."""
    from syndication.cli.demo import run_demo

    keep = sys.stdin.isatty() if keep_running is None else keep_running
    raise SystemExit(
        run_demo(
            ctx.settings,
            source_config=ctx.settings.config_path,
            samples=samples,
            port=port,
            keep_running=keep,
        )
    )
