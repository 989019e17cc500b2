"""Prometheus metrics: the project's registry, its counters and histograms, and Redis gauges.

Counters and histograms live in :data:`REGISTRY`, one per process. The server counts HTTP
requests and accepted or rejected events; workers observe ingest, render and delivery times
with the histograms defined here. Everything that describes shared state (queue lengths, the
inbox, dead letters, documents, posts) is read from Redis when Prometheus scrapes, by
:class:`RedisCollector`, so every ``serve`` process reports the same numbers.

When ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is imported, prometheus-client
keeps counter and histogram values in files there, and :func:`render` aggregates every
process (uvicorn workers, Celery pool processes) into one answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from syndication.keys import QUEUES
from syndication.ops import Ops
from syndication.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

# --- server ---------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "syndication_http_requests",
    "HTTP requests answered by syndication serve, by route template and status code.",
    ("route", "status"),
    registry=REGISTRY,
)
EVENTS_ACCEPTED = Counter(
    "syndication_events_accepted",
    "Events accepted and queued for ingestion, by entry point.",
    ("source",),
    registry=REGISTRY,
)
EVENTS_REJECTED = Counter(
    "syndication_events_rejected",
    "Events refused, by reason (unsigned, bad_signature, stale, oversize, invalid, "
    "no_secret, queue_error).",
    ("reason",),
    registry=REGISTRY,
)

# --- workers --------------------------------------------------------------------------------
# Buckets from 1 ms to 30 s: an ingest is a few ms, a render tens of ms, a delivery a
# platform round trip that may take seconds.
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Lag behind the due time: seconds to hours (a paused channel or an outage).
_LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)

INGEST_SECONDS = Histogram(
    "syndication_ingest_seconds",
    "Time to validate and apply one batch of events (an ingest task's or an inbox drain's).",
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
RENDER_SECONDS = Histogram(
    "syndication_render_seconds",
    "Time to render and store every format of one feed.",
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "syndication_delivery_seconds",
    "Time of one delivery attempt to a platform.",
    ("platform",),
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
DELIVERY_LAG_SECONDS = Histogram(
    "syndication_delivery_lag_seconds",
    "How long after its due time a post was sent.",
    ("platform",),
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
FEEDS_RENDERED = Counter(
    "syndication_feeds_rendered",
    "Feed renders, by whether the bytes changed.",
    ("changed",),
    registry=REGISTRY,
)
POSTS = Counter(
    "syndication_posts",
    "Posts that reached a status (sent, failed, uncertain, cancelled...), by platform.",
    ("platform", "status"),
    registry=REGISTRY,
)
INDEXNOW_URLS = Counter(
    "syndication_indexnow_urls",
    "URLs sent to IndexNow, by outcome (accepted, deferred for a retry, refused for good).",
    ("outcome",),
    registry=REGISTRY,
)

PostCounts = Callable[[], Mapping[tuple[str, str], int]]


class RedisCollector(Collector):
    """Gauges read from Redis at scrape time: queues, inbox, dead letters, documents, posts.

    Args:
        store: the store to read.
        queues: Celery queue names whose lists are measured.
        post_counts: returns ``{(platform, status): count}``; given by whoever owns the posts
            ledger. Without it only the number of stored posts is reported.
    """

    def __init__(
        self,
        store: Store,
        queues: Sequence[str] = QUEUES,
        *,
        post_counts: PostCounts | None = None,
    ) -> None:
        self.store = store
        self.queues = tuple(queues)
        self.post_counts = post_counts

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the metrics exist only when Redis answers a scrape."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read every gauge in one pipelined round trip (plus the posts hook, if any)."""
        try:
            g = Ops(self.store).gauges(self.queues)
        except redis.RedisError:
            # A scrape must still answer (the process metrics are valid); this says why the
            # Redis gauges are missing.
            yield GaugeMetricFamily("syndication_redis_up", "Redis answered the scrape.", value=0)
            return
        yield GaugeMetricFamily("syndication_redis_up", "Redis answered the scrape.", value=1)
        lengths = [g.queues[q] for q in self.queues]
        inbox, dead, documents, posts, dirty = (
            g.inbox,
            g.dead_letters,
            g.documents,
            g.posts,
            g.dirty_feeds,
        )

        queue_gauge = GaugeMetricFamily(
            "syndication_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for queue, length in zip(self.queues, lengths, strict=True):
            queue_gauge.add_metric([queue], length)
        yield queue_gauge
        yield GaugeMetricFamily(
            "syndication_inbox_length", "Entries in the inbox stream.", value=inbox
        )
        yield GaugeMetricFamily(
            "syndication_dead_letters", "Rejected events kept for inspection.", value=dead
        )
        yield GaugeMetricFamily(
            "syndication_documents", "Rendered documents stored for serving.", value=documents
        )
        yield GaugeMetricFamily(
            "syndication_feeds_dirty", "Feeds waiting to be re-rendered.", value=dirty
        )
        yield GaugeMetricFamily(
            "syndication_posts_stored", "Posts in the ledger, in any status.", value=posts
        )
        if self.post_counts is not None:
            by_status = GaugeMetricFamily(
                "syndication_posts_current",
                "Posts in the ledger by platform and current status.",
                labels=["platform", "status"],
            )
            for (platform, status), count in sorted(self.post_counts().items()):
                by_status.add_metric([platform, status], count)
            yield by_status


def render(*collectors: Collector) -> bytes:
    """The Prometheus text exposition of :data:`REGISTRY` plus ``collectors``.

    In multiprocess mode the counters and histograms come from every process's files rather
    than from this process's memory (which holds only its own share).
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        # prometheus-client leaves this constructor unannotated.
        MultiProcessCollector(base)  # type: ignore[no-untyped-call]
    else:
        base = REGISTRY
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return generate_latest(base) + generate_latest(extra)
