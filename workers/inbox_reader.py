"""The worker's blocking inbox reader: events appended with a plain ``XADD`` are applied at
once, not at beat's next tick.

A daemon thread in the main process of every worker that consumes the ``ingest`` queue reads
the inbox stream with ``XREADGROUP ... BLOCK`` as its own consumer of the group, applies one
bounded batch at a time, and queues the renders and planning the batch owes. Delivery stays
at-least-once: an entry is acknowledged only after it is applied or dead-lettered, and entries
a dead reader held are claimed by another consumer after ``inbox_claim_after``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import redis
import structlog
from celery.signals import worker_ready

from syndication.inbox import drain_inbox
from workers.runtime import runtime
from workers.tasks import after_drain

log = structlog.get_logger(__name__)

# How long one read waits for a first entry before it looks again (and claims stale ones).
BLOCK_MS = 1000
# After an error (Redis restarting), wait this long before reading again.
RETRY_AFTER = 1.0


def read_forever(app: Any, consumer: str) -> None:
    """Apply inbox entries as they arrive, one bounded batch at a time, until the process ends."""
    rt = runtime(app)
    claim_after = int(rt.settings.inbox_claim_after * 1000)
    while True:
        try:
            report = drain_inbox(
                rt.ingestor,
                consumer,
                batch=rt.settings.inbox_batch,
                min_idle_ms=claim_after,
                block_ms=BLOCK_MS,
            )
            after_drain(app, report)
        except (redis.RedisError, OSError) as exc:
            # A Redis restart must never end the reader: the entries it held stay pending and
            # are read again (by it or another consumer).
            log.warning("inbox.reader_waiting", error=type(exc).__name__)
            time.sleep(RETRY_AFTER)


@worker_ready.connect
def _start(sender: Any = None, **_: Any) -> None:
    app = sender.app
    if not getattr(runtime(app), "read_inbox", False):
        return
    consumer = f"{socket.gethostname()}-{os.getpid()}-reader"
    threading.Thread(
        target=read_forever, args=(app, consumer), name="inbox-reader", daemon=True
    ).start()
