"""Long-running processes: ``worker``, ``beat``, and the embedded Redis's ``redis`` group.

``worker`` and ``beat`` supervise Celery by default: Celery runs in a child process that is
started again when it dies unasked (see :mod:`syndication.cli._supervise`), so that a Redis
restart, or a Celery bug on the way back from one, never leaves the service down.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from syndication.cli._context import CliContext, err, pass_ctx
from syndication.cli._supervise import RestartPolicy, supervise
from syndication.connection import redacted, redis_url
from syndication.embedded import stop_embedded
from syndication.logging import configure_logging

if TYPE_CHECKING:
    from celery import Celery


def use_shared_metrics(data_dir: Path) -> None:
    """Let every process on this machine (pool processes, servers) add up into one /metrics.

    Must run before prometheus_client is imported; ``PROMETHEUS_MULTIPROC_DIR`` wins if set.
    """
    default = str(data_dir.resolve() / "metrics")
    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", default))
    folder.mkdir(parents=True, exist_ok=True)


F = TypeVar("F", bound=Callable[..., Any])


def supervision_options(command: F) -> F:
    """The ``--supervise/--no-supervise``, ``--max-restarts`` and ``--restart-window`` options."""
    command = click.option(
        "--restart-window",
        default=300.0,
        show_default=True,
        help="Seconds over which --max-restarts is counted.",
    )(command)
    command = click.option(
        "--max-restarts",
        default=5,
        show_default=True,
        help="Give up (exit 1) after this many restarts within --restart-window.",
    )(command)
    return click.option(
        "--supervise/--no-supervise",
        default=True,
        show_default=True,
        help="Restart Celery when it dies; --no-supervise runs it in this process "
        "(for a supervisor of your own; it still exits non-zero when Celery fails).",
    )(command)


def child_environment(ctx: CliContext) -> dict[str, str]:
    """This process's environment with its resolved settings on top, so that a supervised
    child uses exactly the same Redis, prefix and folders (the Redis URL goes through the
    environment, never the command line, where ``ps`` would show it)."""
    env = {**os.environ, **ctx.settings.to_env()}
    url = ctx.settings.redis_url_value
    if url:
        env["SYNDICATION_REDIS_URL"] = url  # the spelling Settings reads first
    return env


def run_supervised(ctx: CliContext, name: str, args: list[str], policy: RestartPolicy) -> None:
    """Run ``syndication NAME ARGS --no-supervise`` under :func:`supervise`; exit with its
    status."""
    argv = [sys.executable, "-m", "syndication", name, *args, "--no-supervise"]
    status = supervise(name, argv, child_environment(ctx), policy)
    click.get_current_context().exit(status)


def run_celery_worker(app: Celery, argv: list[str]) -> int:
    """Run Celery's worker command in this process; return its exit status.

    ``app.worker_main`` (and ``app.start``) drop the status: after an "Unrecoverable error"
    Celery sets it to 1, yet the process exited 0 and a supervisor that restarts on failure
    left the worker down. The status is read from the worker itself once it has stopped.
    """
    from celery.signals import worker_init

    workers: list[Any] = []

    def remember(sender: Any = None, **_: Any) -> None:
        workers.append(sender)

    worker_init.connect(remember, weak=False)
    try:
        app.worker_main(argv)
    finally:
        worker_init.disconnect(remember)
    status = workers[-1].exitcode if workers else 1
    return int(status or 0)


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
@supervision_options
@pass_ctx
def worker(
    ctx: CliContext,
    queues: str,
    concurrency: int,
    pool: str,
    with_beat: bool,
    loglevel: str,
    supervise: bool,
    max_restarts: int,
    restart_window: float,
) -> None:
    """Run a Celery worker on the given queues.

    Celery runs in a child process, restarted when it dies unasked. Exits 0 when asked to
    stop (SIGTERM, SIGINT), non-zero when Celery failed and, under supervision, after more
    than --max-restarts restarts within --restart-window.
    """
    configure_logging(loglevel)
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_shared_metrics(ctx.settings.data_dir)
    err.print(f"worker on {redacted(redis_url(ctx.settings))} queues={queues}")
    options = [
        f"--queues={queues}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        *(["--beat"] if with_beat else []),
    ]
    if supervise:
        run_supervised(ctx, "worker", options, RestartPolicy(max_restarts, restart_window))
        return
    argv = [
        "worker",
        *options,
        "--without-gossip",
        "--without-mingle",
        f"--hostname=syndication-{os.getpid()}@%h",
    ]
    if queues.split(",") == ["ingest"]:
        # An ingest-only worker holds many messages, to apply them in batches (see
        # workers.ingest); a worker of other queues too holds one at a time.
        from workers.ingest import INGEST_PREFETCH

        argv.append(f"--prefetch-multiplier={INGEST_PREFETCH}")
    app = ctx.app
    # A worker on the ingest queue also reads the inbox stream as it fills (see
    # workers.inbox_reader), so a plain XADD is applied at once.
    app.syndication.read_inbox = "ingest" in queues.split(",")
    click.get_current_context().exit(run_celery_worker(app, argv))


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
@supervision_options
@pass_ctx
def beat(
    ctx: CliContext, loglevel: str, supervise: bool, max_restarts: int, restart_window: float
) -> None:
    """Run the beat scheduler (exactly one per deployment).

    Beat runs in a child process, restarted when it dies unasked (see ``worker``).
    """
    configure_logging(loglevel)
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    if supervise:
        run_supervised(
            ctx, "beat", [f"--loglevel={loglevel}"], RestartPolicy(max_restarts, restart_window)
        )
        return
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
