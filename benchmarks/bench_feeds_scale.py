"""Feeds at scale: render time against the number of stored articles, and the time from
publish to every affected feed re-rendered at a steady rate.

Run: ``python -m benchmarks.bench_feeds_scale`` (or ``python benchmarks/bench_feeds_scale.py``).

* **render vs stored articles**: one feed rendered in every configured format
  (``FeedStorage.render``, warm fragment cache, median of repeated renders) with 1,000 and then
  with 100,000 realistic articles stored. A render reads only the feed's newest ``max_items``
  ids from its sorted-set index, so the ratio should stay near 1.
* **publish to re-rendered**: real worker subprocesses (one per queue, see
  :data:`benchmarks._common.PIPELINE`) while this process sends ``syndication.ingest`` tasks
  at a steady rate
  (100 events/s for 10 s by default). An event counts as done when every document of every
  feed it belongs in was rendered from a read that started after the event was applied
  (the document's ``rendered_at`` is at least the event's apply time). Reported: p50, p99 and
  max of publish-to-done, over the events sent. A quiet language renders as soon as its
  event is applied; a busy one in a round of all its dirty feeds at most once per
  ``RENDER_INTERVAL``, which bounds the latency.

Everything runs under a private key prefix that is deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BenchEnv,
    EventFactory,
    Workers,
    bench_env,
    owns_server,
    percentile,
    quiesce,
    redis_server,
    table,
    wait_until,
)
from feeds.catalog import FeedRef, feed_indexer, is_feed_enabled
from feeds.storage import FeedStorage
from syndication.events import ParsedEvent, parse_event
from syndication.ingest import feed_ids_for
from syndication.logging import configure_logging
from workers.app import create_app
from workers.handles import RENDER_FEEDS
from workers.memory import settle
from workers.tasks import RENDER_INTERVAL

BATCH = 1000
RENDER_REPEAT = 40
FEEDS = (FeedRef("vi", "all"), FeedRef("vi", "category", "heritage"))
BOOT_TIMEOUT = 60.0
# After the last publish, wait at most this long for the renders to catch up.
SETTLE_TIMEOUT = 30.0
POLL_EVERY = 0.02


def store_articles(env: BenchEnv, factory: EventFactory, count: int) -> float:
    """Validate and apply ``count`` new articles in pipelined batches; return the seconds."""
    started = time.perf_counter()
    done = 0
    while done < count:
        n = min(BATCH, count - done)
        parsed = [parse_event(e) for e in factory.take(n)]
        env.store.apply_events(
            [(p, feed_ids_for(p, feed_indexer(env.config.feeds))) for p in parsed]
        )
        done += n
    # Bulk loading left every feed marked dirty with no render queued: clear the marks, so
    # that the worker later sees each feed's next change as new and schedules its render.
    env.client.delete(env.store.keys.dirty_feeds)
    return time.perf_counter() - started


def render_times(
    envs: tuple[BenchEnv, BenchEnv], ref: FeedRef, repeat: int = RENDER_REPEAT
) -> tuple[float, float]:
    """Median seconds of one render of ``ref`` (every format, warm fragment cache) in each
    of two stores, renders interleaved so that drift on the machine hits both alike."""
    storages = [FeedStorage(env.store) for env in envs]
    config = envs[0].config.feeds
    for storage in storages:
        storage.render(ref, config)  # fills the fragment cache for the current newest items
        storage.render(ref, config)
    runs: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for storage, times in zip(storages, runs, strict=True):
            times.append(storage.render(ref, config).seconds)
    return statistics.median(runs[0]), statistics.median(runs[1])


def render_scale(
    small_env: BenchEnv, env: BenchEnv, factory: EventFactory, small: int, large: int
) -> list[list[str]]:
    """Render times with ``small`` and with ``large`` articles stored (two prefixes on the
    same server), and their ratio."""
    store_articles(small_env, factory, small)
    load_large = store_articles(env, factory, large)
    print(
        f"stored {small_env.store.count_articles():,} and {env.store.count_articles():,} "
        f"articles under two prefixes ({large / load_large:,.0f} articles/s, validated and "
        f"applied in batches of {BATCH})"
    )
    quiesce(env.client, compact=owns_server())  # no fork competes with the renders timed
    rows = []
    for ref in FEEDS:
        before, after = render_times((small_env, env), ref)
        rows.append(
            [
                ref.id,
                f"{small_env.store.feed_size(ref.id):,}",
                f"{before * 1000:.2f}",
                f"{env.store.feed_size(ref.id):,}",
                f"{after * 1000:.2f}",
                f"{after / before:.2f}",
            ]
        )
    return rows


@dataclass
class _Pending:
    """One published event waiting for its feeds to be re-rendered."""

    event_id: str
    published: float
    paths: tuple[str, ...]
    # Seconds into the steady phase when it was sent.
    offset: float = 0.0
    applied: float | None = None
    # Wall-clock time of the poll that found every document re-rendered.
    done: float | None = None


def _documents_of(env: BenchEnv, parsed: ParsedEvent) -> tuple[str, ...]:
    """Every document (feed path per format) the event's article belongs in."""
    config = env.config.feeds
    paths: list[str] = []
    for feed_id in feed_ids_for(parsed, feed_indexer(env.config.feeds)):
        ref = FeedRef.from_id(feed_id)
        if is_feed_enabled(ref, config):
            paths.extend(ref.path(fmt) for fmt in config.formats)
    return tuple(paths)


def _render_all(env: BenchEnv) -> int:
    """Render every feed once in this process (documents exist, fragment cache warm)."""
    storage = FeedStorage(env.store)
    refs = storage.all_feeds(env.config.feeds)
    for ref in refs:
        storage.render(ref, env.config.feeds)
    return len(refs)


@dataclass
class LatencyRun:
    """The outcome of the steady phase."""

    done: list[_Pending]
    late: int
    # Events per second actually sent.
    rate: float

    def applied_ms(self) -> list[float]:
        """Publish to applied by the worker, per completed event."""
        return [((p.applied or 0.0) - p.published) * 1000 for p in self.done]

    def rendered_ms(self) -> list[float]:
        """Publish to every affected document re-rendered, per completed event."""
        return [((p.done or 0.0) - p.published) * 1000 for p in self.done]

    def timeline(self) -> list[float]:
        """The p50 of publish-to-rendered (ms) per second of the steady phase."""
        by_second: dict[int, list[float]] = {}
        for p in self.done:
            by_second.setdefault(int(p.offset), []).append(((p.done or 0.0) - p.published) * 1000)
        return [percentile(by_second[s], 50) for s in sorted(by_second)]


def publish_latency(
    env: BenchEnv, factory: EventFactory, rate: float, seconds: float
) -> LatencyRun:
    """Send events at ``rate``/s for ``seconds`` to a worker and time each one to its
    feeds re-rendered."""
    feeds = _render_all(env)
    waited = quiesce(env.client, compact=owns_server())
    print(
        f"rendered all {feeds} feeds once before the steady phase (warm fragment cache); "
        f"waited {waited:.1f}s for Redis's background persistence after the bulk load"
    )
    count = int(rate * seconds)
    events = [parse_event(e) for e in factory.take(count + 1)]
    bodies = [p.to_json() for p in events]
    docs = [_documents_of(env, p) for p in events]
    keys = env.store.keys
    app = create_app(env.settings, env.config)
    worker = Workers(env).start()
    settle()  # this process polls every POLL_EVERY: no long collector pause in between
    try:
        # Warm-up: the worker is ready once a first event is applied and its feeds rendered.
        app.send_task("syndication.ingest", (bodies[0],))
        warm = _Pending(bodies[0]["id"], time.time(), docs[0])
        wait_until(
            lambda: _check([warm], env, keys) == [warm],
            timeout=BOOT_TIMEOUT,
            interval=0.05,
            what="the worker's first event to be rendered",
            worker=worker,
        )
        # Then every feed once in the render worker, so that the steady phase measures warm
        # processes (their caches of parsed articles and item fragments), not a cold start.
        all_ids = [ref.id for ref in FeedStorage(env.store).all_feeds(env.config.feeds)]
        env.store.mark_dirty(all_ids)
        for language in sorted({f.partition("/")[0] for f in all_ids}):
            app.send_task(RENDER_FEEDS.name, ([f"{language}/all"],))
        wait_until(
            lambda: not env.store.dirty_feeds(),
            timeout=BOOT_TIMEOUT,
            interval=0.05,
            what="every feed to be rendered once by the worker",
            worker=worker,
        )
        pending: list[_Pending] = []
        finished: list[_Pending] = []
        start = time.perf_counter()
        sent = 0
        last_send = start
        next_poll = start
        with app.producer_or_acquire() as producer:
            while True:
                now = time.perf_counter()
                while sent < count and now >= start + sent / rate:
                    i = sent + 1
                    published = time.time()
                    app.send_task("syndication.ingest", (bodies[i],), producer=producer)
                    offset = time.perf_counter() - start
                    pending.append(_Pending(bodies[i]["id"], published, docs[i], offset))
                    sent += 1
                    last_send = time.perf_counter()
                if now >= next_poll:
                    for item in _check(pending, env, keys):
                        pending.remove(item)
                        finished.append(item)
                    next_poll = time.perf_counter() + POLL_EVERY
                if sent >= count and not pending:
                    break
                if sent >= count and now - start > seconds + SETTLE_TIMEOUT:
                    break
                worker.check()
                due = start + sent / rate if sent < count else next_poll
                time.sleep(max(0.0, min(due, next_poll) - time.perf_counter()))
        # Sends are due every 1/rate seconds from ``start``: n sends span n intervals.
        achieved = sent / (last_send - start + 1 / rate) if sent else 0.0
        return LatencyRun(finished, len(pending), achieved)
    finally:
        worker.stop()
        app.close()


def _check(pending: list[_Pending], env: BenchEnv, keys: Any) -> list[_Pending]:
    """The pending events whose every document was rendered after they were applied."""
    if not pending:
        return []
    client = env.client
    unknown = [p for p in pending if p.applied is None]
    pipe = client.pipeline(transaction=False)
    for p in unknown:
        pipe.hget(keys.event_status(p.event_id), "at")
    pipe.zrange(keys.rendered_index, 0, -1, withscores=True)
    replies = pipe.execute()
    polled = time.time()
    for p, at in zip(unknown, replies[:-1], strict=True):
        if at is not None:
            p.applied = float(at)
    rendered = {m.decode(): s for m, s in replies[-1]}
    done = []
    for p in pending:
        if p.applied is not None and all(rendered.get(d, 0.0) >= p.applied for d in p.paths):
            p.done = polled
            done.append(p)
    return done


def run(small: int, large: int, rate: float, seconds: float) -> None:
    """Measure both parts on one Redis and print the tables."""
    configure_logging("WARNING")
    with (
        redis_server() as url,
        bench_env("feeds-small", url) as small_env,
        bench_env("feeds", url) as env,
    ):
        factory = EventFactory()
        rows = render_scale(small_env, env, factory, small, large)
        print(
            table(
                rows,
                [
                    "feed (rss+atom+json)",
                    "items",
                    f"ms @ {small // 1000}k",
                    "items",
                    f"ms @ {large // 1000}k",
                    "ratio",
                ],
            )
        )
        print(f"ratio = render time with {large:,} stored / with {small:,} stored (aim: ~1)")
        result = publish_latency(env, factory, rate, seconds)
    rows = []
    for label, ms in (
        ("publish -> applied", result.applied_ms()),
        ("publish -> every feed re-rendered", result.rendered_ms()),
    ):
        rows.append(
            [
                label,
                str(len(ms)),
                str(result.late),
                f"{percentile(ms, 50):.0f}",
                f"{percentile(ms, 99):.0f}",
                f"{max(ms) if ms else float('nan'):.0f}",
            ]
        )
    print(
        table(
            rows,
            [
                f"{result.rate:.0f} events/s for {seconds:.0f}s",
                "events",
                "late",
                "p50 ms",
                "p99 ms",
                "max ms",
            ],
        )
    )
    print("re-rendered p50 ms by second: " + " ".join(f"{v:.0f}" for v in result.timeline()))
    print(
        f"workers: {Workers.describe()}; a busy language renders its dirty feeds in a round at "
        f"most once per {RENDER_INTERVAL:g} s; "
        f"'late' = not re-rendered {SETTLE_TIMEOUT:.0f}s after the last publish"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the options and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=1_000, help="articles stored first")
    parser.add_argument("--large", type=int, default=100_000, help="articles stored then")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    args = parser.parse_args(argv if argv is not None else [])
    run(args.small, args.large, args.rate, args.seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
