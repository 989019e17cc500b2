"""The plain-Redis entry point: a stream any CMS can ``XADD`` to, drained in batches.

``XADD <prefix>:inbox * event '<json>'`` is the whole producer side (PHP, Node, a shell).
Workers read with a consumer group (at-least-once): an entry is acknowledged only after its
event was applied or dead-lettered, and entries left pending by a consumer that crashed are
claimed back after ``min_idle_ms``. Applying twice is harmless: events are deduped by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from syndication.errors import FieldError
from syndication.ingest import Ingestor, Outcome


@dataclass
class DrainReport:
    """What one drain did."""

    entries: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def dirtied(self) -> list[str]:
        """Every feed some applied event made dirty, once each."""
        return sorted({f for o in self.outcomes for f in o.dirtied})

    def renders(self) -> dict[str, float]:
        """Feeds made dirty, with when each last started rendering (0: never)."""
        out: dict[str, float] = {}
        for outcome in self.outcomes:
            out.update(outcome.renders())
        return out


def drain_inbox(
    ingestor: Ingestor,
    consumer: str,
    *,
    batch: int = 500,
    batches: int = 1,
    min_idle_ms: int = 30_000,
    block_ms: int | None = None,
) -> DrainReport:
    """Apply at most ``batches`` batches of inbox entries (stopping early when the stream is
    empty): a drain is bounded, and whoever called it calls again for the rest.

    ``block_ms`` waits that long for a first entry (the worker's blocking reader).
    """
    store = ingestor.store
    store.ensure_inbox_group()
    report = DrainReport()
    for _ in range(batches):
        entries = store.inbox_read(
            consumer, count=batch, min_idle_ms=min_idle_ms, block_ms=block_ms
        )
        block_ms = None  # only the first read waits
        if not entries:
            break
        raws: list[object] = []
        ids: list[str] = []
        for entry_id, fields in entries:
            payload = fields.get(b"event")
            if payload is None:
                report.outcomes.append(
                    ingestor.reject(
                        {
                            k.decode(errors="replace"): v.decode(errors="replace")
                            for k, v in fields.items()
                        },
                        [FieldError("event", "required: XADD <inbox> * event '<json>'")],
                        source=f"inbox:{entry_id}",
                    )
                )
            else:
                raws.append(payload)
            ids.append(entry_id)
        report.outcomes.extend(ingestor.ingest_batch(raws, source="inbox"))
        store.inbox_ack(ids)
        report.entries += len(ids)
    return report
