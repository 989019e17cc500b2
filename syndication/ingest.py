"""Ingestion: validate an incoming event, dead-letter it or apply it, in that order.

The shell around :func:`syndication.events.parse_event` (pure) and
:meth:`syndication.store.Store.apply_event` (Redis). Called by the ``ingest`` task (one event)
and by the inbox drain (a batch per round trip); both validate again, because any producer
can bypass the edge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from syndication.errors import EventValidationError, FieldError
from syndication.events import (
    Article,
    ArticleUnpublished,
    ParsedEvent,
    event_id_of,
    parse_event,
    parse_event_json,
)
from syndication.settings import Limits
from syndication.store import ApplyResult, Store
from syndication.store_scripts import APPLY_CHUNK

log = structlog.get_logger(__name__)

Status = Literal["applied", "duplicate", "stale", "rejected"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one incoming event."""

    status: Status
    event_id: str | None
    article_id: str | None = None
    event_type: str | None = None
    affected: tuple[str, ...] = ()
    dirtied: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    dead_letter: str | None = None
    # When each dirtied feed last started rendering (0: never): a quiet one renders at once.
    last_rendered: tuple[float, ...] = ()
    # The languages whose render round this event asks (see ApplyResult.rounds).
    rounds: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """A JSON-able summary (task results, ``publish --json``)."""
        return {
            k: v
            for k, v in self.__dict__.items()
            if v not in (None, ()) and k not in ("last_rendered", "rounds")
        }

    def renders(self) -> dict[str, float]:
        """The feeds this event made dirty whose round it must ask (no round of their
        language was asked yet), with when each last started rendering."""
        return {
            f: at
            for f, at in zip(self.dirtied, self.last_rendered, strict=False)
            if f.partition("/")[0] in self.rounds
        }


def validate(raw: object, limits: Limits) -> ParsedEvent:
    """Parse ``raw`` (JSON text, bytes, or a decoded value) into a valid event.

    Raises:
        EventValidationError: whatever ``raw`` is; nothing else.
    """
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if isinstance(raw, str | bytes):
        return parse_event_json(raw, limits)
    return parse_event(raw, limits)


def keep_rejected(
    store: Store,
    raw: object,
    errors: Sequence[FieldError | str],
    *,
    source: str,
    limits: Limits,
    now: float | None = None,
) -> tuple[str, str | None]:
    """Keep a rejected payload as a dead letter; return its id and the event id it claims.

    The one place every entry (CLI, Python, HTTP, inbox, ingest task) keeps what it
    refused: the raw payload is kept escaped and bounded, and the claimed event id only
    when it follows the id rule.
    """
    event_id = event_id_of(raw, limits)
    dl_id = store.add_dead_letter(
        raw, errors, source=source, event_id=event_id, now=now, raw_limit=limits.event_bytes
    )
    log.warning(
        "event.rejected",
        event_id=event_id,
        dead_letter=dl_id,
        source=source,
        errors=[str(e) for e in errors][:5],
    )
    return dl_id, event_id


# Which feeds an article belongs in (``feeds.catalog.feed_indexer`` builds one from config):
# given, not imported, so that the core does not depend on the feeds package.
Indexer = Callable[[Article], Iterable[str]]


def feed_ids_for(parsed: ParsedEvent, index: Indexer) -> list[str]:
    """The feeds an event's article belongs in (none for an unpublish)."""
    ev = parsed.event
    if isinstance(ev, ArticleUnpublished):
        return []
    return sorted(set(index(ev.article)))


class Ingestor:
    """Validates and applies events against one store, with one way to index articles."""

    def __init__(
        self, store: Store, index: Indexer, limits: Limits, *, owe: Sequence[str] = ()
    ) -> None:
        self.store = store
        self.index = index
        self.limits = limits
        # The stages an applied change owes work to (``plan`` when channels exist): recorded
        # in their work lists by the apply script itself (see syndication.worklist).
        self.owe = tuple(owe)

    def reject(
        self, raw: object, errors: Sequence[FieldError | str], source: str, now: float | None = None
    ) -> Outcome:
        """Keep an invalid event as a dead letter and report it."""
        dl_id, event_id = keep_rejected(
            self.store, raw, errors, source=source, limits=self.limits, now=now
        )
        return Outcome(
            "rejected", event_id, errors=tuple(str(e) for e in errors), dead_letter=dl_id
        )

    def ingest(self, raw: object, *, source: str, now: float | None = None) -> Outcome:
        """Validate and apply one event; an invalid one becomes a dead letter."""
        try:
            parsed = validate(raw, self.limits)
        except EventValidationError as exc:
            return self.reject(raw, exc.errors, source, now)
        result = self.store.apply_event(
            parsed, feed_ids_for(parsed, self.index), now=now, owe=self.owe
        )
        return self._outcome(parsed, result, source)

    def ingest_batch(
        self, raws: Sequence[object], *, source: str | Sequence[str], now: float | None = None
    ) -> list[Outcome]:
        """Validate and apply many events in one round trip for the valid ones: each chunk
        is sent as soon as it is validated, so Redis applies it while the next is checked.

        ``source`` names where the events came from: one for all, or one per event.
        """
        stamp = time.time() if now is None else now
        sources = [source] * len(raws) if isinstance(source, str) else list(source)
        outcomes: list[Outcome | None] = [None] * len(raws)
        valid: list[tuple[int, ParsedEvent]] = []
        with self.store.apply_stream(now=stamp, owe=self.owe) as stream:
            for start in range(0, len(raws), APPLY_CHUNK):
                chunk: list[tuple[int, ParsedEvent]] = []
                for i in range(start, min(start + APPLY_CHUNK, len(raws))):
                    try:
                        chunk.append((i, validate(raws[i], self.limits)))
                    except EventValidationError as exc:
                        outcomes[i] = self.reject(raws[i], exc.errors, sources[i], stamp)
                stream.send([(p, feed_ids_for(p, self.index)) for _, p in chunk])
                valid += chunk
            results = stream.results()
        for (i, parsed), result in zip(valid, results, strict=True):
            outcomes[i] = self._outcome(parsed, result, sources[i])
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _outcome(parsed: ParsedEvent, result: ApplyResult, source: str) -> Outcome:
        ev = parsed.event
        log.info(
            "event.applied" if result.status == "applied" else f"event.{result.status}",
            event_id=ev.id,
            article_id=ev.article.id,
            type=ev.type,
            source=source,
            feeds=len(result.affected),
            warnings=len(parsed.warnings),
        )
        return Outcome(
            result.status,
            ev.id,
            ev.article.id,
            ev.type,
            result.affected,
            result.dirtied,
            warnings=parsed.warnings,
            last_rendered=result.last_rendered,
            rounds=result.rounds,
        )
