"""Freshness: from a plain ``XADD`` to the inbox to the item visible in the served feed.

Run: ``python benchmarks/bench_freshness.py``. The any-language entry (no Celery nudge, as a
PHP or Node CMS would publish) at a steady rate, real workers (one per queue, see
:data:`benchmarks._common.PIPELINE`; the ingest one's blocking inbox reader picks entries up
at once) and a real
``syndication serve`` trusting its in-memory documents for 0.1 s. Each event counts as
visible when a ``GET`` of its language's ``all.json`` from the server lists it. Reported:
p50, p99 and max of XADD-to-visible (a busy language renders a round at most every
``RENDER_INTERVAL`` and the server may serve a copy ``FRESHNESS_TTL`` old: both are part of
the figure).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    EventFactory,
    Workers,
    bench_env,
    env_for,
    percentile,
    quiesce,
    redis_server,
    table,
    wait_until,
)
from feeds.catalog import article_guid
from syndication.events import parse_event
from syndication.logging import configure_logging
from workers.tasks import RENDER_INTERVAL

RATE = 20.0
SECONDS = 10.0
FRESHNESS_TTL = 0.1
POLL_EVERY = 0.01


def free_port() -> int:
    """A port the kernel says is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    """Publish at a steady rate, poll the served feeds, print the table."""
    configure_logging("WARNING")
    with redis_server() as url, bench_env("freshness", url) as env:
        factory = EventFactory(start=datetime.now(UTC).replace(microsecond=0))
        count = int(RATE * SECONDS)
        events = [parse_event(e) for e in factory.take(count + 1)]
        bodies = [json.dumps(p.to_json(), ensure_ascii=False) for p in events]
        languages = [p.event.article.language for p in events]
        guids = [article_guid(p.event.article.id, env.config.feeds) for p in events]
        port = free_port()
        server_env = {
            **env_for(env.settings),
            "SYNDICATION_SERVE_FRESHNESS_TTL": repr(FRESHNESS_TTL),
            "SYNDICATION_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "syndication", "serve", "--port", str(port)],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        worker = Workers(env).start()
        base = f"http://127.0.0.1:{port}"
        try:
            http = httpx.Client(base_url=base, timeout=5.0)
            env.client.xadd(env.store.keys.inbox, {"event": bodies[0]})
            wait_until(
                lambda: _listed(http, languages[0], {guids[0]}),
                timeout=60,
                interval=0.1,
                what="the worker and the server to serve a first event",
                worker=worker,
            )
            quiesce(env.client, compact=False)
            sent: dict[str, float] = {}
            seen: dict[str, float] = {}
            start = time.perf_counter()
            i = 0
            while True:
                now = time.perf_counter()
                while i < count and now >= start + i / RATE:
                    sent[guids[i + 1]] = time.perf_counter()
                    env.client.xadd(env.store.keys.inbox, {"event": bodies[i + 1]})
                    i += 1
                pending = {a for a in sent if a not in seen}
                for language in {languages[n + 1] for n in range(i)} if pending else ():
                    listed = _listed(http, language, pending)
                    stamp = time.perf_counter()
                    for article_id in listed:
                        seen[article_id] = stamp
                if i >= count and not pending:
                    break
                if time.perf_counter() - start > SECONDS + 30:
                    break
                worker.check()
                time.sleep(POLL_EVERY)
        finally:
            worker.stop()
            server.terminate()
            server.wait(15)
    latencies = [(seen[a] - sent[a]) * 1000 for a in seen]
    rows = [
        [
            "XADD -> visible in the served feed",
            str(len(latencies)),
            str(count - len(latencies)),
            f"{percentile(latencies, 50):.0f}",
            f"{percentile(latencies, 99):.0f}",
            f"{max(latencies, default=float('nan')):.0f}",
        ],
    ]
    print(
        table(
            rows,
            [
                f"{RATE:.0f} events/s for {SECONDS:.0f}s",
                "events",
                "late",
                "p50 ms",
                "p99 ms",
                "max ms",
            ],
        )
    )
    print(
        f"plain XADD (no nudge); workers {Workers.describe()} (the ingest one's blocking inbox "
        f"reader), rounds spaced {RENDER_INTERVAL:g} s per language; serve with a "
        f"{FRESHNESS_TTL:g} s freshness TTL; aim: p99 <= 500 ms"
    )


def _listed(http: httpx.Client, language: str, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` (item ids: the articles' GUIDs) the served
    ``/feeds/{language}/all.json`` lists now."""
    try:
        response = http.get(f"/feeds/{language}/all.json")
    except httpx.TransportError:
        return set()  # the server is still starting
    if response.status_code != 200:
        return set()
    return {str(item.get("id")) for item in response.json().get("items", [])} & wanted


if __name__ == "__main__":
    main()
