"""The one producer path: validate, keep a dead letter on rejection, append to the inbox, nudge.

Every producer goes through :class:`Publisher`: ``syndication.publish(event)`` (Python),
``syndication publish`` (CLI), ``POST /events`` (HTTP), ``syndication dlq replay`` and the
demo. A CMS that writes ``XADD <prefix>:inbox`` itself skips the edge; the worker validates
again and keeps the dead letter then.

The inbox stream is the durable hand-off: an entry stays pending until a worker has applied
or dead-lettered it, and is claimed back if that worker dies (a Celery message on the Redis
transport is lost if its worker is killed between popping it and recording it unacked). The
nudge, a ``syndication.drain_inbox`` Celery message, only saves waiting for beat's next tick;
the shell passes it in as a callable, so this module never imports Celery.

When Redis cannot be reached, a publisher retries for ``retry_for`` seconds (one budget per
batch), then reports each event it could not hand over as ``not-queued`` instead of raising
halfway through a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, TypeVar

import redis
import structlog

from syndication.connection import connect
from syndication.decoding import printable
from syndication.errors import EventValidationError, FieldError, StoreError, StoreUnavailable
from syndication.events import ParsedEvent, event_id_of
from syndication.ingest import keep_rejected, validate
from syndication.keys import Keys
from syndication.settings import Limits, Settings, get_settings
from syndication.store import Store

log = structlog.get_logger(__name__)

Status = Literal["queued", "rejected", "not-queued"]
Append = Callable[[dict[str, Any]], object]
Nudge = Callable[[], object]
T = TypeVar("T")

# How long producers wait for Redis by default before reporting events as not queued.
DEFAULT_RETRY_FOR = 5.0
# Errors that mean "Redis (or the broker) is not there right now", worth retrying.
UNREACHABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    StoreUnavailable,
)
_FIRST_PAUSE = 0.05
_MAX_PAUSE = 1.0


@dataclass(frozen=True)
class Publication:
    """What became of one event handed to a publisher."""

    status: Status
    event_id: str | None = None
    article_id: str | None = None
    event_type: str | None = None
    entry: str | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[FieldError, ...] = ()
    dead_letter: str | None = None
    # Why the event was not queued, or why its dead letter could not be kept.
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-able summary (``publish --json``, HTTP answers)."""
        doc: dict[str, object] = {"status": self.status, "event_id": self.event_id}
        for name in ("article_id", "event_type", "dead_letter", "reason"):
            value = getattr(self, name)
            if value is not None:
                doc["type" if name == "event_type" else name] = value
        if self.errors:
            doc["errors"] = [str(e) for e in self.errors]
        if self.warnings:
            doc["warnings"] = list(self.warnings)
        return doc


@dataclass
class RetryBudget:
    """How long a batch may still wait for Redis; once spent, the rest fails fast."""

    seconds: float
    outage_since: float | None = None
    gave_up: StoreUnavailable | None = field(default=None)


def inbox_append(store: Store) -> Append:
    """Append a validated event to ``store``'s inbox stream (the default hand-off)."""

    def append(event: dict[str, Any]) -> str:
        return store.inbox_add(json.dumps(event, ensure_ascii=False))

    return append


class Publisher:
    """Validates, dead-letters, appends and nudges: the producer path every entry shares.

    Args:
        append: hands over one valid event (default: the inbox stream); may raise one of
            :data:`UNREACHABLE` to be retried.
        nudge: called once after a batch queued something (a Celery ``drain_inbox``
            message); its failures are logged and otherwise ignored.
        retry_for: seconds to keep retrying while Redis is unreachable, per batch.
    """

    def __init__(
        self,
        store: Store,
        limits: Limits,
        *,
        append: Append | None = None,
        nudge: Nudge | None = None,
        retry_for: float = DEFAULT_RETRY_FOR,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.limits = limits
        self._append = append or inbox_append(store)
        self._nudge = nudge
        self.retry_for = retry_for
        self._sleep = sleep
        self._clock = clock

    def budget(self) -> RetryBudget:
        """A fresh retry budget for one batch."""
        return RetryBudget(self.retry_for)

    def validate(self, raw: object) -> ParsedEvent:
        """Validate ``raw`` (JSON text, bytes or a decoded value); raises only
        :class:`EventValidationError`."""
        if isinstance(raw, Mapping) and not isinstance(raw, dict):
            try:
                raw = dict(raw)
            except Exception:  # the caller's mapping failed to iterate: still a rejection
                kind = type(raw).__name__
                raise EventValidationError(
                    [FieldError("event", f"a {kind} that cannot be read as a mapping")]
                ) from None
        return validate(raw, self.limits)

    def publish(
        self,
        raw: object,
        *,
        source: str,
        budget: RetryBudget | None = None,
        keep: bool = True,
    ) -> Publication:
        """Validate one event and queue it, or keep it as a dead letter (``keep``).

        Never raises for invalid input or for Redis being away or refusing: the
        publication says ``rejected`` or ``not-queued`` with the reason. Other exceptions
        of ``append`` are the caller's bug and propagate.
        """
        budget = budget or self.budget()
        try:
            parsed = self.validate(raw)
        except EventValidationError as exc:
            return self._rejected(raw, exc.errors, source, budget, keep)
        ev = parsed.event
        try:
            entry: object = self._retrying(lambda: self._append(parsed.to_json()), budget)
            status: Status = "queued"
            reason = None
        except StoreError as exc:
            entry, status, reason = None, "not-queued", str(exc)
        return Publication(
            status,
            ev.id,
            ev.article.id,
            ev.type,
            entry=None if entry is None else str(entry),
            warnings=parsed.warnings,
            reason=reason,
        )

    def publish_all(self, raws: Iterable[object], *, source: str) -> list[Publication]:
        """Publish each of ``raws`` under one retry budget, then nudge once if any queued."""
        budget = self.budget()
        done = [self.publish(raw, source=source, budget=budget) for raw in raws]
        if any(p.status == "queued" for p in done):
            self.nudge()
        return done

    def nudge(self) -> bool:
        """Ask a worker to drain the inbox now; False when that failed (beat will do it)."""
        if self._nudge is None:
            return False
        try:
            self._nudge()
        except Exception as exc:  # a lost nudge costs at most one beat tick
            log.warning("inbox.nudge_failed", error=type(exc).__name__)
            return False
        return True

    def _rejected(
        self,
        raw: object,
        errors: Iterable[FieldError],
        source: str,
        budget: RetryBudget,
        keep: bool,
    ) -> Publication:
        messages = tuple(errors)
        if not keep:
            return Publication("rejected", event_id_of(raw, self.limits), errors=messages)
        try:
            dl_id, event_id = self._retrying(
                lambda: keep_rejected(self.store, raw, messages, source=source, limits=self.limits),
                budget,
            )
        except StoreError as exc:
            return Publication(
                "rejected",
                event_id_of(raw, self.limits),
                errors=messages,
                reason=f"dead letter not kept: {exc}",
            )
        return Publication("rejected", event_id, errors=messages, dead_letter=dl_id)

    def _retrying(self, operation: Callable[[], T], budget: RetryBudget) -> T:
        """Run ``operation``, retrying while Redis is unreachable and the budget lasts."""
        pause = _FIRST_PAUSE
        while True:
            if budget.gave_up is not None:
                raise budget.gave_up
            try:
                result = operation()
            except UNREACHABLE as exc:
                now = self._clock()
                if budget.outage_since is None:
                    budget.outage_since = now
                left = budget.seconds - (now - budget.outage_since)
                if left <= 0:
                    # Only the error's type: redis-py's messages name the host, and a
                    # URL may carry a password.
                    budget.gave_up = StoreUnavailable(
                        f"redis: unreachable for {budget.seconds:g} s ({type(exc).__name__})"
                    )
                    log.warning("publish.redis_unreachable", error=type(exc).__name__)
                    raise budget.gave_up from None
                self._sleep(min(pause, left))
                pause = min(pause * 2, _MAX_PAUSE)
            except redis.RedisError as exc:
                # Redis answered but refused (out of memory, read-only replica): retrying
                # now would not help. Its messages carry no URL.
                problem = printable(str(exc))[:200]
                raise StoreError(f"redis: {type(exc).__name__}: {problem}") from None
            else:
                budget.outage_since = None
                return result


@lru_cache(maxsize=8)
def _store(settings: Settings) -> Store:
    return Store(
        connect(settings), Keys(settings.prefix), event_memory_seconds=settings.event_memory_seconds
    )


def publish(
    event: Mapping[str, object] | str | bytes,
    *,
    settings: Settings | None = None,
    source: str = "python",
    retry_for: float = DEFAULT_RETRY_FOR,
    nudge: Nudge | None = None,
) -> str:
    """Validate ``event`` and queue it for the workers; return its id.

    ``event`` is a mapping, or JSON text or bytes. A worker drains the inbox within a beat
    tick (a second); pass ``nudge`` (for instance ``lambda: DRAIN_INBOX.send(app)``, from
    ``workers.handles``) to have it drained at once.

    Raises:
        EventValidationError: the event is invalid; each error names its field (``event``
            for the whole document). It is kept as a dead letter too, when Redis answers.
        StoreUnavailable: Redis could not be reached for ``retry_for`` seconds; the event
            was not queued. The message never holds the Redis URL.
        StoreError: Redis refused the event (out of memory, a read-only replica).
    """
    settings = settings or get_settings()
    publisher = Publisher(_store(settings), settings.limits, nudge=nudge, retry_for=retry_for)
    done = publisher.publish(event, source=source)
    if done.status == "rejected":
        raise EventValidationError(done.errors)
    if done.status == "not-queued":
        reason = done.reason or "redis: unreachable"
        unreachable = reason.startswith("redis: unreachable")
        raise StoreUnavailable(reason) if unreachable else StoreError(reason)
    publisher.nudge()
    return str(done.event_id)
