"""Dead letters: rejected events kept with their errors, source and time, to list and replay.

The repository methods are on :class:`~syndication.store.Store`; this module holds the value
and the limits of what is kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEAD_LETTER_RAW_BYTES",
    "ERRORS_KEPT",
    "ERROR_CHARS",
    "SOURCE_CHARS",
    "DeadLetter",
    "dead_letter_from_hash",
]

# A dead letter keeps at most this much of its raw payload (the default largest event), this
# many errors, and this much of each error and of its source.
DEAD_LETTER_RAW_BYTES = 1_048_576
ERRORS_KEPT = 60
ERROR_CHARS = 2_000
SOURCE_CHARS = 500


@dataclass(frozen=True)
class DeadLetter:
    """A rejected event, kept with everything needed to understand and replay it."""

    id: str
    raw: str
    errors: tuple[str, ...]
    source: str
    at: float
    event_id: str | None = None
    replays: int = 0
    # What was done to store the raw payload as text (escaped, cut), when anything was.
    note: str | None = None


def dead_letter_from_hash(dl_id: str, data: Mapping[bytes | str, bytes | str]) -> DeadLetter:
    """A dead letter read back from its Redis hash (any bytes: the hash is open to any client)."""

    def text(name: bytes) -> str:
        value = data.get(name)
        if isinstance(value, bytes):
            # Written by add_dead_letter as UTF-8, but the hash is open to any client.
            return value.decode("utf-8", "backslashreplace")
        return value or ""

    try:
        errors = tuple(str(e) for e in json.loads(text(b"errors") or "[]"))
    except (ValueError, TypeError):
        errors = (text(b"errors"),)
    return DeadLetter(
        id=dl_id,
        raw=text(b"raw"),
        errors=errors,
        source=text(b"source"),
        at=float(data.get(b"at", 0)),
        event_id=text(b"event_id") or None,
        replays=int(data.get(b"replays", 0)),
        note=text(b"note") or None,
    )
