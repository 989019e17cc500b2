"""Long-running processes: ``worker``, ``beat``, and the embedded Redis's ``redis`` group."""

from __future__ import annotations

import os
from pathlib import Path

import click

from syndication.cli._context import CliContext, err, pass_ctx
from syndication.connection import redacted, redis_url
from syndication.embedded import stop_embedded
from syndication.logging import configure_logging


def use_shared_metrics(data_dir: Path) -> None:
    """Let every process on this machine (pool processes, servers) add up into one /metrics.

    Must run before prometheus_client is imported; ``PROMETHEUS_MULTIPROC_DIR`` wins if set.
    """
    default = str(data_dir.resolve() / "metrics")
    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", default))
    folder.mkdir(parents=True, exist_ok=True)


@click.command()
@click.option(
    "--queues",
    "-Q",
    default="ingest,render,deliver",
    show_default=True,
    help="Comma-separated queues this worker consumes.",
)
@click.option("--concurrency", "-c", default=2, show_default=True, help="Worker processes.")
@click.option(
    "--pool",
    default="prefork",
    show_default=True,
    type=click.Choice(["prefork", "solo", "threads"]),
)
@click.option(
    "--beat", "with_beat", is_flag=True, help="Also run the beat scheduler in this worker."
)
@click.option("--loglevel", default="INFO", show_default=True)
@pass_ctx
def worker(
    ctx: CliContext, queues: str, concurrency: int, pool: str, with_beat: bool, loglevel: str
) -> None:
    """Run a Celery worker on the given queues."""
    configure_logging(loglevel)
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_shared_metrics(ctx.settings.data_dir)
    err.print(f"worker on {redacted(redis_url(ctx.settings))} queues={queues}")
    argv = [
        "worker",
        f"--queues={queues}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=syndication-{os.getpid()}@%h",
    ]
    if with_beat:
        argv.append("--beat")
    app = ctx.app
    # A worker on the ingest queue also reads the inbox stream as it fills (see
    # workers.inbox_reader), so a plain XADD is applied at once.
    app.syndication.read_inbox = "ingest" in queues.split(",")
    app.worker_main(argv)


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
@pass_ctx
def beat(ctx: CliContext, loglevel: str) -> None:
    """Run the beat scheduler (exactly one per deployment)."""
    configure_logging(loglevel)
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx.app.Beat(loglevel=loglevel).run()


@click.group("redis")
def redis_group() -> None:
    """The embedded Redis (used when REDIS_URL is not set)."""


@redis_group.command("url")
@pass_ctx
def redis_url_cmd(ctx: CliContext) -> None:
    """Print the Redis URL in use (password masked), starting the embedded one if needed."""
    click.echo(redacted(redis_url(ctx.settings)))


@redis_group.command("start")
@pass_ctx
def redis_start(ctx: CliContext) -> None:
    """Start the embedded Redis of the data folder (its data is kept there) and print its URL."""
    if ctx.settings.redis_url:
        raise click.ClickException("REDIS_URL is set: there is no embedded Redis to start")
    click.echo(redacted(redis_url(ctx.settings)))


@redis_group.command("stop")
@pass_ctx
def redis_stop(ctx: CliContext) -> None:
    """Stop the embedded Redis of the data folder (it saves first)."""
    if ctx.settings.redis_url:
        raise click.ClickException("REDIS_URL is set: there is no embedded Redis to stop")
    stopped = stop_embedded(ctx.settings.data_dir)
    err.print("stopped" if stopped else "the embedded Redis was not running")
