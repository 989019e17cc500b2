"""Publishing from Python: ``syndication.publish(event)``.

Validates at the edge (an invalid event raises :class:`EventValidationError` naming the field
and is kept as a dead letter), then appends the event to the inbox stream, the same durable
path a PHP or Node CMS uses with one ``XADD``. No Celery import is needed by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache

from syndication.connection import connect
from syndication.errors import EventValidationError
from syndication.events import parse_event, parse_event_json
from syndication.keys import Keys
from syndication.settings import Settings, get_settings
from syndication.store import Store


def queue_event(store: Store, event: Mapping[str, object]) -> str:
    """Append a validated event to the inbox stream; return the entry id.

    The stream is the durable hand-off: an entry stays pending until a worker has applied or
    dead-lettered it, and is claimed back if that worker dies. (A Celery message on the Redis
    transport is lost if its worker is killed between popping it and recording it unacked.)
    """
    return store.inbox_add(json.dumps(event, ensure_ascii=False))


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
) -> str:
    """Validate ``event`` and queue it for the workers; return its id.

    Raises:
        EventValidationError: the event is invalid (it is kept as a dead letter too).
    """
    settings = settings or get_settings()
    store = _store(settings)
    try:
        if isinstance(event, str | bytes):
            parsed = parse_event_json(event, settings.limits)
        else:
            parsed = parse_event(dict(event), settings.limits)
    except EventValidationError as exc:
        raw = (
            event
            if isinstance(event, str)
            else (
                event.decode(errors="replace")
                if isinstance(event, bytes)
                else json.dumps(event, ensure_ascii=False, default=str)
            )
        )
        store.add_dead_letter(raw, exc.errors, source=source)
        raise
    queue_event(store, parsed.to_json())
    return parsed.event.id
