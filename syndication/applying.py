"""Applying events in bulk: the apply script's result, and a stream of chunks to apply.

:class:`ApplyStream` sends each chunk of events (one ``APPLY_MANY`` call) as soon as its
caller has it ready, so that Redis applies one chunk while the caller validates the next;
every answer is read at the end, in order. :meth:`syndication.store.Store.apply_stream`
makes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from syndication.connection import ScriptStream
from syndication.errors import StoreError
from syndication.events import ParsedEvent
from syndication.replies import text_of

__all__ = ["ApplyResult", "ApplyStatus", "ApplyStream", "apply_result"]

ApplyStatus = Literal["applied", "duplicate", "stale"]


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one event."""

    status: ApplyStatus
    event_id: str
    article_id: str
    # Every feed whose content this event changed.
    affected: tuple[str, ...] = ()
    # Those of them that were not already waiting for a render: queue one for each.
    dirtied: tuple[str, ...] = ()
    # When each of ``dirtied`` last started rendering (0: never), to space renders.
    last_rendered: tuple[float, ...] = ()
    # The languages whose render round this event must ask (none was asked yet): for the
    # others, a round already asked reads this change.
    rounds: tuple[str, ...] = ()


def apply_result(parsed: ParsedEvent, reply: list[bytes]) -> ApplyResult:
    """Read the apply script's answer for ``parsed``."""
    status = text_of(reply[0])
    if status not in ("applied", "duplicate", "stale"):
        raise StoreError(f"apply script answered {status!r}")
    texts = [text_of(f) for f in reply[1:]]
    marked = [t.split(":", 2) for t in texts if not t.startswith("!")]
    return ApplyResult(
        status,  # type: ignore[arg-type]
        parsed.event.id,
        parsed.event.article.id,
        affected=tuple(f for _, _, f in marked),
        dirtied=tuple(f for new, _, f in marked if new == "1"),
        last_rendered=tuple(float(at or 0) for new, at, _ in marked if new == "1"),
        rounds=tuple(t[1:] for t in texts if t.startswith("!")),
    )


# (keys, args) of one event's apply call, from the event and the feeds it belongs in.
Prepare = Callable[[ParsedEvent, Iterable[str]], tuple[list[str], list[Any]]]


class ApplyStream:
    """Chunks of events applied in order; each chunk is one script call, which Redis runs
    without interleaving other commands, and each event is applied exactly as alone."""

    def __init__(self, calls: ScriptStream, prepare: Prepare) -> None:
        self._calls = calls
        self._prepare = prepare
        self._events: list[ParsedEvent] = []

    def __enter__(self) -> ApplyStream:
        self._calls.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._calls.__exit__(*exc)

    def send(self, chunk: Sequence[tuple[ParsedEvent, Iterable[str]]]) -> None:
        """Send one chunk (events with their feed ids) to be applied now."""
        if not chunk:
            return
        flat: list[Any] = []
        for parsed, feeds in chunk:
            keys, args = self._prepare(parsed, feeds)
            flat += [len(keys), len(args), *keys, *args]
        self._calls.send([], flat)
        self._events += [parsed for parsed, _ in chunk]

    def results(self) -> list[ApplyResult]:
        """Every event's outcome, in the order sent."""
        replies = [reply for chunk in self._calls.results() for reply in chunk]
        return [apply_result(p, r) for p, r in zip(self._events, replies, strict=True)]
