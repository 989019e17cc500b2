"""``syndication serve``: the HTTP server (feeds, signed events, health, metrics) under uvicorn."""

from __future__ import annotations

import os

import click

from syndication.cli._context import CliContext, err, pass_ctx
from syndication.cli.run import use_shared_metrics
from syndication.connection import redacted, redis_url
from syndication.logging import configure_logging

# The uvicorn factory: each worker process builds its app from these environment variables.
FACTORY = "syndication.server:app_from_environment"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes (each keeps its own document cache).",
)
@click.option(
    "--freshness-ttl",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    envvar="SYNDICATION_SERVE_FRESHNESS_TTL",
    show_envvar=True,
    help="Seconds a served feed is trusted before its ETag is checked in Redis again.",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log one line per request (a proxy in front usually does this already).",
)
@click.option("--loglevel", default="INFO", show_default=True)
@pass_ctx
def serve(
    ctx: CliContext,
    host: str,
    port: int,
    workers: int,
    freshness_ttl: float,
    access_log: bool,
    loglevel: str,
) -> None:
    """Serve feeds and take signed events over HTTP."""
    import uvicorn

    configure_logging(loglevel)
    settings = ctx.settings
    ctx.config  # noqa: B018  (load it now so that a bad config fails here, cleanly)
    url = redis_url(settings)  # starts the embedded Redis once, before any worker
    # uvicorn's worker processes rebuild settings from the environment, so the root options
    # travel there; the Redis URL is never printed unredacted.
    os.environ.update(
        {
            "REDIS_URL": url,
            "SYNDICATION_PREFIX": settings.prefix,
            "SYNDICATION_CONFIG_PATH": str(settings.config_path),
            "SYNDICATION_DATA_DIR": str(settings.data_dir),
            "SYNDICATION_SERVE_FRESHNESS_TTL": repr(freshness_ttl),
            "SYNDICATION_LOG_LEVEL": loglevel,
        }
    )
    use_shared_metrics(settings.data_dir)
    if settings.webhook_secret is None:
        err.print("warning: SYNDICATION_WEBHOOK_SECRET is not set; POST /events answers 503")
    err.print(f"serving on http://{host}:{port} ({workers} process(es)), redis {redacted(url)}")
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        # None: keep the stderr logging configured above instead of uvicorn's stdout handlers.
        log_config=None,
        log_level=loglevel.lower(),
        server_header=False,
    )
