"""The event pipeline's throughput on one Redis: Celery's ceiling, per-task ingest, the batched
inbox, and the memory an article costs.

Run: ``python -m benchmarks.bench_pipeline`` (or ``python benchmarks/bench_pipeline.py``).

* **ceiling** and **ingest**, per pool: one worker subprocess of concurrency 1 (``-Q ingest``)
  drains a queue filled beforehand with alternating segments: ``N`` no-op tasks (what one
  task round trip costs), ``N`` no-op tasks each carrying a realistic event as its argument
  (what Celery's carrying an event costs: decoding it, keeping it in the unacked hash), then
  ``N`` realistic events, one ``syndication.ingest`` task each; ``--rounds`` rounds (4) of
  the three, after an untimed warm-up (the first tasks load the worker's runtime). Each
  segment ends with an event whose state the benchmark watches (the queue is FIFO and the
  worker runs one task at a time), so a segment is timed from the end of the one before it.
  Alternating within one run means the figures are measured under the same machine
  conditions, seconds apart (on a shared two-core machine the speed of all of them drifts by
  a third within minutes); each figure is the total of its segments. Render tasks the
  ingests queue land on the ``render`` queue, which this worker does not consume, so they do
  not distort the figure.
* **inbox**: ``M`` events appended to the inbox stream (pipelined ``XADD``) and applied by
  :func:`syndication.inbox.drain_inbox` in batches, in this process, under the collector
  settings a worker's process runs with (``workers.memory.settle``), as the worker's inbox
  reader does.
* **memory**: ``INFO memory`` before and after applying 10,000 realistic articles under a fresh
  prefix, with and without the per-event bookkeeping (the idempotency id and status, which
  expire after the event memory).

Everything runs under private key prefixes that are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BenchEnv,
    EventFactory,
    Worker,
    bench_env,
    owns_server,
    queue_key,
    quiesce,
    redis_server,
    table,
    used_memory,
    wait_until,
)
from feeds.catalog import feed_indexer
from syndication.events import parse_event
from syndication.inbox import drain_inbox
from syndication.ingest import Ingestor, feed_ids_for
from syndication.logging import configure_logging
from workers.app import create_app
from workers.memory import settle

# Generous bounds: a stuck worker fails the benchmark instead of hanging it.
BOOT_TIMEOUT = 60.0
DRAIN_TIMEOUT = 120.0
# Tasks of each kind a worker runs before the timed segments.
WARMUP = 200
# Seconds a client stays idle before Redis shrinks its query buffer (its clientsCron), and a margin.
QUERY_BUFFER_IDLE = 3.0


@dataclass(frozen=True)
class Figure:
    """One measured row."""

    name: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.count / self.seconds if self.seconds > 0 else float("nan")


def _send_all(env: BenchEnv, tasks: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Queue ``tasks`` (name, args) on one producer connection, before any worker runs."""
    app = create_app(env.settings, env.config)
    try:
        with app.producer_or_acquire() as producer:
            for name, args in tasks:
                app.send_task(name, args, producer=producer)
    finally:
        app.close()


def _is_applied(env: BenchEnv, event_id: str) -> bool:
    return env.store.event_state(event_id) == "applied"


@dataclass(frozen=True)
class Alternation:
    """One pool's figures: the no-op ceiling, the no-op carrying an event, the ingest."""

    noop: Figure
    carrying: Figure
    ingest: Figure
    # Each round's ingest rate over its no-op rate.
    ratios: tuple[float, ...]


def alternating(
    env: BenchEnv, factory: EventFactory, n: int, rounds: int, pool: str
) -> Alternation:
    """``rounds`` rounds of three segments of ``n`` tasks (no-op, no-op carrying an event as
    its argument, ingest), drained by one worker; each figure is its segments' total."""
    segments: list[tuple[str, str]] = []  # (kind, the event that ends the segment)
    # Untimed: the worker's first tasks load its runtime (config, Redis scripts, caches).
    warm = [parse_event(e).to_json() for e in factory.take(WARMUP)]
    tasks: list[tuple[str, tuple[Any, ...]]] = [("syndication.noop", ())] * WARMUP
    tasks += [("syndication.ingest", (e,)) for e in warm]
    ingested: list[str] = [e["id"] for e in warm]
    for _ in range(rounds):
        marker = parse_event(factory.take(1)[0]).to_json()
        tasks += [("syndication.noop", ())] * n + [("syndication.ingest", (marker,))]
        segments.append(("noop", marker["id"]))
        carried = [parse_event(e).to_json() for e in factory.take(n)]
        marker = parse_event(factory.take(1)[0]).to_json()
        tasks += [("syndication.noop", (e,)) for e in carried]
        tasks += [("syndication.ingest", (marker,))]
        segments.append(("carrying", marker["id"]))
        events = [parse_event(e).to_json() for e in factory.take(n)]
        tasks += [("syndication.ingest", (e,)) for e in events]
        segments.append(("ingest", events[-1]["id"]))
        ingested += [e["id"] for e in events]
    qkey = queue_key(env, "ingest")
    env.client.delete(qkey)
    _send_all(env, tasks)
    total = int(env.client.llen(qkey))
    if total != len(tasks):
        raise RuntimeError(f"queued {len(tasks)} tasks but {qkey} holds {total}")
    quiesce(env.client, compact=owns_server())
    took: list[float] = []
    with Worker(env, queues="ingest", concurrency=1, pool=pool) as worker:
        last = wait_until(
            partial(_is_applied, env, warm[-1]["id"]),
            timeout=BOOT_TIMEOUT,
            interval=0.002,
            what="the worker's warm-up tasks",
            worker=worker,
        )
        for kind, event_id in segments:
            done = wait_until(
                partial(_is_applied, env, event_id),
                timeout=DRAIN_TIMEOUT,
                interval=0.002,
                what=f"the {kind} segment to drain",
                worker=worker,
            )
            took.append(done - last)
            last = done
    missing = sum(1 for s in env.store.event_states(ingested) if s != "applied")
    if missing:
        raise RuntimeError(f"{missing} of {len(ingested)} ingested events are not applied")
    noop, carrying, ingest = took[0::3], took[1::3], took[2::3]
    return Alternation(
        Figure(f"no-op tasks ({pool})", rounds * (n + 1), sum(noop)),
        Figure(f"no-op carrying the event ({pool})", rounds * (n + 1), sum(carrying)),
        Figure(f"ingest, 1 event/task ({pool})", rounds * n, sum(ingest)),
        tuple(n_s / i_s for n_s, i_s in zip(noop, ingest, strict=True)),
    )


def inbox_batches(env: BenchEnv, factory: EventFactory, n: int, batch: int) -> Figure:
    """``n`` events XADDed to the inbox, then applied by ``drain_inbox`` in batches."""
    bodies = [json.dumps(parse_event(e).to_json(), ensure_ascii=False) for e in factory.take(n)]
    pipe = env.client.pipeline(transaction=False)
    for i, body in enumerate(bodies, 1):
        pipe.xadd(env.store.keys.inbox, {"event": body})
        if i % 1000 == 0:
            pipe.execute()
    pipe.execute()
    ingestor = Ingestor(env.store, feed_indexer(env.config.feeds), env.settings.limits)
    settle()  # the worker's collector settings, which its inbox reader runs under
    quiesce(env.client, compact=owns_server())
    started = time.perf_counter()
    applied = 0
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while env.store.inbox_length() and time.monotonic() < deadline:
        report = drain_inbox(ingestor, "bench", batch=batch)
        applied += sum(1 for o in report.outcomes if o.status == "applied")
    seconds = time.perf_counter() - started
    if applied != n:
        raise RuntimeError(f"the inbox applied {applied} of {n} events")
    return Figure(f"inbox, batches of {batch}", n, seconds)


def memory_per_10k(env: BenchEnv, factory: EventFactory, n: int = 10_000) -> tuple[float, float]:
    """MB per 10,000 stored articles: with the per-event bookkeeping, and articles alone."""
    parsed = [parse_event(e) for e in factory.take(n)]
    client = env.client
    quiesce(client, compact=False)
    before = used_memory(client)
    for i in range(0, n, 1000):
        chunk = parsed[i : i + 1000]
        env.store.apply_events(
            [(p, feed_ids_for(p, feed_indexer(env.config.feeds))) for p in chunk]
        )
    # Redis shrinks a client's query buffer (grown to hold a whole batch) once it has been
    # idle for 2 s: measure after that, or the batch's bytes count as stored data.
    time.sleep(QUERY_BUFFER_IDLE)
    total = used_memory(client) - before
    keys = env.store.keys
    pipe = client.pipeline(transaction=False)
    for p in parsed:
        pipe.delete(keys.event_seen(p.event.id), keys.event_status(p.event.id))
    pipe.execute()
    time.sleep(QUERY_BUFFER_IDLE)
    articles = used_memory(client) - before
    scale = 10_000 / n / 1e6
    return total * scale, articles * scale


def run(n_tasks: int, rounds: int, n_inbox: int, batch: int, pools: tuple[str, ...]) -> None:
    """Measure everything on one Redis and print the table."""
    configure_logging("WARNING")
    rows: list[list[str]] = []
    spreads: list[str] = []
    carried: list[str] = []
    with redis_server() as url:
        factory = EventFactory()
        base: Figure | None = None
        for pool in pools:
            with bench_env("ingest", url) as env:
                alt = alternating(env, factory, n_tasks, rounds, pool)
            top = alt.noop
            base = base or top
            for fig in (top, alt.carrying, alt.ingest):
                rows.append(
                    [
                        fig.name,
                        str(fig.count),
                        f"{fig.seconds:.2f}",
                        f"{fig.rate:,.0f}",
                        f"{fig.rate / (base if fig is top else top).rate:.2f}",
                    ]
                )
            spreads.append(f"{pool} {' '.join(f'{r:.2f}' for r in alt.ratios)}")
            carried.append(f"{pool} {alt.ingest.rate / alt.carrying.rate:.2f}")
        assert base is not None
        with bench_env("inbox", url) as env:
            box = inbox_batches(env, factory, n_inbox, batch)
        rows.append(
            [
                box.name,
                str(box.count),
                f"{box.seconds:.2f}",
                f"{box.rate:,.0f}",
                f"{box.rate / base.rate:.2f}",
            ]
        )
        with bench_env("memory", url) as env:
            total_mb, articles_mb = memory_per_10k(env, factory)
    print(table(rows, ["path", "n", "seconds", "per s", "x ceiling"]))
    print(
        f"ratio: to the no-op ceiling of the same pool ({pools[0]} for the inbox row); "
        f"the three kinds alternate in {rounds} rounds of {n_tasks:,} tasks in one worker run"
    )
    print(f"ingest/no-op by round: {'; '.join(spreads)}")
    print(f"ingest/no-op carrying an event of the same kind: {'; '.join(carried)}")
    print(
        f"memory per 10,000 stored articles: {total_mb:.1f} MB "
        f"({articles_mb:.1f} MB articles and indexes + {total_mb - articles_mb:.1f} MB "
        "event ids and states, which expire)"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the options and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per Celery segment")
    parser.add_argument("--rounds", type=int, default=4, help="no-op/ingest segment pairs")
    parser.add_argument("--inbox", type=int, default=10_000, help="events through the inbox")
    parser.add_argument("--batch", type=int, default=500, help="inbox batch size")
    parser.add_argument(
        "--pools", default="solo,prefork", help="worker pools to measure (comma-separated)"
    )
    args = parser.parse_args(argv if argv is not None else [])
    pools = tuple(p for p in args.pools.split(",") if p)
    run(args.tasks, args.rounds, args.inbox, args.batch, pools)


if __name__ == "__main__":
    main(sys.argv[1:])
