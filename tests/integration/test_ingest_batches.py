"""The ingest task: one event per message, applied by an ingest-only worker in batches, in
arrival order, each event once, and nothing lost when the worker dies holding a batch."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from syndication.keys import Keys
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.integration.test_pipeline import applied, each_applied_once, make_event
from workers.app import create_app

SOLO_INGEST = ("-Q", "ingest", "--pool", "solo", "-c", "1")
# An article of ~50 KB: a batch of them takes a while to validate and apply.
LONG_BODY = "".join(
    f"<p>Đoạn {i}: phố cổ về đêm, đèn lồng <b>rực rỡ</b> bên sông 🏮.</p>" for i in range(600)
)


def updated(event_id: str, article: dict[str, Any], at: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(article)
    doc["id"], doc["type"], doc["occurred_at"] = event_id, "article.updated", at
    doc["article"].update(updated_at=at, **changes)
    return doc


def unpublished(event_id: str, article_id: str, at: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "article.unpublished",
        "occurred_at": at,
        "article": {"id": article_id},
    }


def queue(settings: Settings, events: list[dict[str, Any]]) -> None:
    """One ``syndication.ingest`` message per event, sent before any worker runs."""
    app = create_app(settings)
    try:
        with app.producer_or_acquire() as producer:
            for event in events:
                app.send_task("syndication.ingest", (event,), producer=producer)
    finally:
        app.close()


def held(store: Store, settings: Settings) -> int:
    """Messages delivered to a worker and not acknowledged yet (kombu's unacked hash)."""
    return int(store.r.hlen(Keys(settings.prefix).celery_prefix + "unacked"))


def waiting(store: Store, settings: Settings) -> int:
    return int(store.r.llen(Keys(settings.prefix).celery_queue("ingest")))


def batch_sizes(log: str) -> list[int]:
    sizes = []
    for line in log.splitlines():
        if '"ingest.batch"' in line:
            sizes.append(int(json.loads(line[line.index("{") :])["events"]))
    return sizes


def test_a_backlog_is_applied_in_batches_each_event_once(
    settings: Settings, store: Store, worker_factory
) -> None:
    """A backlog of one-event messages: applied in batches, a duplicate message changes
    nothing, an invalid event becomes a dead letter naming its field, and every message is
    acknowledged in the end."""
    total = 300
    events = [make_event(n) for n in range(total)]
    invalid = make_event(total, title="")
    events[150:150] = [invalid, events[5]]  # a bad one and a duplicate, mid-backlog
    queue(settings, events)
    worker = worker_factory(settings, *SOLO_INGEST)
    wait_until(lambda: applied(store, total) == total, timeout=60, message="every event applied")
    each_applied_once(store, total)
    letters = store.dead_letters()
    assert [d.event_id for d in letters] == [invalid["id"]]
    assert any("title" in e for e in letters[0].errors), letters[0].errors
    wait_until(
        lambda: held(store, settings) == 0 and waiting(store, settings) == 0,
        message="every message acknowledged",
    )
    wait_until(
        lambda: sum(batch_sizes(worker.output())) >= total + 2, message="the batches' log lines"
    )
    sizes = batch_sizes(worker.output())
    assert sum(sizes) == total + 2, sizes
    assert max(sizes) > 1, sizes  # batches, not one event per call


def test_an_update_and_a_retraction_in_one_batch_apply_in_arrival_order(
    settings: Settings, store: Store, worker_factory
) -> None:
    """Events of one article in one batch apply one after the other: the update, then the
    retraction, and an edit older than the retraction that comes after it stays stale (it
    cannot bring the article back)."""
    first = make_event(0)
    second = make_event(1)
    events = [
        first,
        second,
        updated("evt-a-edit", first, "2026-11-21T08:00:00+07:00", title="Hội An mùa nước"),
        updated("evt-b-edit", second, "2026-11-21T09:00:00+07:00", title="Hội An về đêm 🏮"),
        unpublished("evt-a-retract", "art-00000", "2026-11-22T08:00:00+07:00"),
        updated("evt-a-late", first, "2026-11-21T10:00:00+07:00", title="Sửa muộn"),
    ]
    queue(settings, events)
    worker = worker_factory(settings, *SOLO_INGEST)
    ids = [e["id"] for e in events]
    wait_until(lambda: None not in store.event_states(ids), message="every event recorded")
    assert store.event_states(ids) == ["applied"] * 5 + ["stale"]
    # All six in one batch (its log line comes once the batch has run).
    sizes = wait_until(lambda: batch_sizes(worker.output()), message="the batch's log line")
    assert sizes == [len(events)]
    gone = store.article_state("art-00000")
    assert gone is not None and gone.state == "unpublished"
    assert "art-00000" not in store.feed_article_ids("vi/all", 10)
    assert "art-00001" in store.feed_article_ids("vi/all", 10)
    (kept,) = store.current_articles(["art-00001"])
    assert kept[0] is not None and kept[0].title == "Hội An về đêm 🏮"


def test_an_ingest_worker_killed_holding_a_batch_loses_no_event(
    redis_url: str, prefix: str, tmp_path: Path, config_dir: Path, store: Store, worker_factory
) -> None:
    """SIGKILL of a whole ingest worker while it holds prefetched messages and applies a
    batch: they come back after the visibility timeout, the next worker applies them, and
    every event is applied exactly once. The articles are long (~50 KB), so that a batch
    takes a while to apply and the kill lands inside one: a batch acknowledged before it
    was applied would lose events here."""
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        data_dir=tmp_path / "data",
        config_path=config_dir,
        visibility_timeout=6,
    )
    total = 600
    queue(settings, [make_event(n, content_html=LONG_BODY) for n in range(total)])
    caught = False
    for _attempt in range(5):
        # Prefork: the parent acknowledges while a pool process applies the batch.
        worker = worker_factory(settings, "-Q", "ingest", "-c", "1")
        start = applied(store, total)
        wait_until(
            lambda s=start: applied(store, total) > s + 20 and held(store, settings) > 0,
            timeout=30,
            message="the worker holding a batch",
        )
        worker.kill()
        if held(store, settings) > 0 and applied(store, total) < total:
            caught = True
            break
    assert caught, "never caught the worker holding unacknowledged messages"
    worker_factory(settings, *SOLO_INGEST)
    wait_until(lambda: applied(store, total) == total, timeout=90, message="every event applied")
    each_applied_once(store, total)
    wait_until(
        lambda: held(store, settings) == 0 and waiting(store, settings) == 0,
        timeout=30,
        message="every message acknowledged",
    )


def test_an_ingest_worker_stopped_gives_back_the_messages_it_holds(
    settings: Settings, store: Store, worker_factory
) -> None:
    """SIGTERM (a deploy) while an ingest worker holds prefetched messages: it finishes its
    batch and gives the rest back at once, so the next worker applies them without waiting
    for the visibility timeout (five minutes here)."""
    total = 600
    queue(settings, [make_event(n, content_html=LONG_BODY) for n in range(total)])
    worker = worker_factory(settings, "-Q", "ingest", "-c", "1")
    wait_until(lambda: applied(store, total) > 50, timeout=30, message="the worker applying")
    worker.stop()
    assert worker.proc is not None and worker.proc.returncode == 0, worker.output()[-2000:]
    assert held(store, settings) == 0
    assert applied(store, total) < total
    worker_factory(settings, "-Q", "ingest", "-c", "1")
    wait_until(lambda: applied(store, total) == total, timeout=60, message="every event applied")
    each_applied_once(store, total)
