"""The ``ingest`` task: one event per message, applied in batches by the worker.

Producers send one event per message (``syndication.ingest``). A worker that consumes only
the ingest queue prefetches up to :data:`INGEST_PREFETCH` of them and hands what it holds to
one call of the task (celery-batches), which validates them all and applies the valid ones in
one script call per :data:`~syndication.store_scripts.APPLY_CHUNK`, in arrival order, each
exactly as alone (an update and a retraction of one article apply one after the other).

A batch is flushed as soon as the worker can hold no more messages (its prefetch window is
full: a worker that also consumes other queues prefetches one message, so each event is
applied at once, alone), when it reaches :data:`INGEST_BATCH`, or :data:`INGEST_WAIT` after
its first message: a trickle of events waits at most that long.

Nothing is lost between the message and the store: every message stays unacknowledged (in
kombu's unacked hash, restored after the visibility timeout if the worker dies) until the
batch that holds it has applied or dead-lettered it. A batch that fails (Redis away) sends
its messages back to the queue, or, when even that fails, leaves them to be restored;
applying an event twice changes nothing (events are deduplicated by id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from celery import Celery, shared_task
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task

from syndication import metrics
from syndication.errors import FieldError
from syndication.inbox import DrainReport
from syndication.ingest import Ingestor, Outcome
from workers.handles import INGEST
from workers.runtime import runtime
from workers.tasks import REDIS_DOWN, after_drain

log = structlog.get_logger(__name__)

# Messages an ingest-only worker holds per process (its prefetch multiplier).
INGEST_PREFETCH = 100
# Events one call applies at most.
INGEST_BATCH = 100
# Seconds without a new message after which the messages held run as a batch.
INGEST_WAIT = 0.002
# Seconds a batch waits for Redis to come back before it gives its messages back.
REDIS_WAIT = 60.0


class EventBatches(Batches):  # type: ignore[misc]
    """Batches whose messages are acknowledged only once their batch has run, and sent back
    when it failed (celery-batches acknowledges them either way)."""

    abstract = True
    _last = 0.0

    def Strategy(self, task: Any, app: Celery, consumer: Any) -> Callable[..., None]:
        handle = super().Strategy(task, app, consumer)

        def on_message(*args: Any, **kwargs: Any) -> None:
            self._last = time.monotonic()
            handle(*args, **kwargs)
            # The prefetch window is full: no other message can arrive before this batch
            # runs, so it runs now (one message at a time where the window is one).
            window = consumer.qos.value or self.flush_every
            if self._buffer.qsize() >= min(window, self.flush_every):
                self._do_flush(force=True)

        return on_message

    def _do_flush(self, force: bool = False) -> None:
        # The timer's tick: a batch runs once no message came for flush_interval (while
        # messages keep coming, it grows to flush_every instead).
        if force or time.monotonic() - self._last >= self.flush_interval:
            super()._do_flush()

    def flush(self, requests: Sequence[Any]) -> Any:
        batch = ([SimpleRequest.from_request(r) for r in requests],)

        def on_return(result: object) -> None:
            # None: the batch raised (apply_batches_task logged it and returned nothing).
            settle(requests, done=result is not None)

        def on_error(_exc: object) -> None:  # the pool lost the process running it
            settle(requests, done=False)

        return self._pool.apply_async(
            apply_batches_task,
            (self, batch, 0, None),
            callback=on_return,
            error_callback=on_error,
        )


def settle(requests: Sequence[Any], *, done: bool) -> None:
    """Acknowledge the messages of a batch that ran, or send them back to the queue."""
    for request in requests:
        try:
            if done:
                request.acknowledge()
            else:
                request.reject(requeue=True)
        except Exception as exc:  # Redis away: the message stays unacked and is restored
            log.warning("ingest.settle_failed", error=type(exc).__name__, done=done)


@shared_task(
    base=EventBatches,
    bind=True,
    name=INGEST.name,
    flush_every=INGEST_BATCH,
    flush_interval=INGEST_WAIT,
    # What each message carries (the INGEST handle's parameters); the task itself takes the
    # batch's requests.
    message_params=("payload", "source"),
)
def ingest(self: Any, requests: Sequence[SimpleRequest]) -> dict[str, object]:
    """Validate and apply the events of a batch of ``ingest`` messages, in order; nudge the
    renders and the planning they owe."""
    raws: list[object] = []
    sources: list[str] = []
    for request in requests:
        args, kwargs = tuple(request.args), dict(request.kwargs)
        raws.append(args[0] if args else kwargs.get("payload"))
        sources.append(str(args[1] if len(args) > 1 else kwargs.get("source", "celery")))
    ingestor = runtime(self.app).ingestor
    started = time.perf_counter()
    outcomes = apply_waiting(ingestor, raws, sources)
    metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
    try:
        after_drain(self.app, DrainReport(outcomes=outcomes))
    except Exception as exc:  # the work owed is recorded; beat's sweep sends what this did not
        log.warning("ingest.nudge_failed", error=type(exc).__name__)
    applied = sum(1 for o in outcomes if o.status == "applied")
    log.info("ingest.batch", events=len(outcomes), applied=applied)
    return {"events": len(outcomes), "applied": applied}


def apply_waiting(
    ingestor: Ingestor, raws: Sequence[object], sources: Sequence[str]
) -> list[Outcome]:
    """:meth:`Ingestor.ingest_batch`, waiting for Redis through an outage of up to
    :data:`REDIS_WAIT` seconds (then the batch fails and its messages go back)."""
    deadline = time.monotonic() + REDIS_WAIT
    pause = 0.2
    while True:
        try:
            return ingest_guarded(ingestor, raws, sources)
        except REDIS_DOWN as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("ingest.waiting_for_redis", error=type(exc).__name__, events=len(raws))
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def ingest_guarded(
    ingestor: Ingestor, raws: Sequence[object], sources: Sequence[str]
) -> list[Outcome]:
    """The batch applied together; if that fails for any reason but Redis being away, each
    event alone, and one that still fails is kept as a dead letter naming the error, so that
    one bad event can neither hold its batch back for ever nor be lost."""
    try:
        return ingestor.ingest_batch(raws, source=sources)
    except REDIS_DOWN:
        raise
    except Exception:
        log.exception("ingest.batch_failed", events=len(raws))
    outcomes = []
    for raw, source in zip(raws, sources, strict=True):
        try:
            outcomes.append(ingestor.ingest(raw, source=source))
        except REDIS_DOWN:
            raise
        except Exception as exc:
            log.exception("ingest.event_failed", source=source)
            error = FieldError("event", f"could not be applied ({type(exc).__name__}); replay it")
            outcomes.append(ingestor.reject(raw, [error], source))
    return outcomes
