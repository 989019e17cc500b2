"""Work lists on real Redis: what a taker that dies leaves behind, and what a change during
the work means (the hand-off every stage relies on)."""

from __future__ import annotations

from feeds.catalog import FeedRef, feed_indexer
from feeds.storage import FeedStorage
from feeds.websub import ping_owed
from syndication.config import Config, FeedsConfig
from syndication.ingest import Ingestor
from syndication.settings import Settings
from syndication.store import Store
from syndication.worklist import WorkList
from tests.integration.test_feeds_export_websub import Hub
from tests.integration.test_pipeline import make_event


def test_an_item_taken_by_a_taker_that_died_comes_due_when_its_lease_ends(store: Store) -> None:
    """While leased nobody else takes the item; once the lease has run out it is due again."""
    work = WorkList(store, "plan")
    work.add(["a1"], 100.0)
    [taken] = work.take(100.0, lease=30.0)
    assert taken.item == "a1"
    assert work.take(120.0, lease=30.0) == []  # the first taker still holds it
    [again] = work.take(131.0, lease=30.0)  # it died: the lease ran out
    assert again.item == "a1"
    assert work.done(again, 132.0) and not work.contains("a1")


def test_a_change_during_the_work_is_done_again_after_never_alongside(store: Store) -> None:
    """Recording an item being worked on neither makes it due sooner nor lets the first
    completion drop it: it is due again at once after that completion."""
    work = WorkList(store, "sync")
    work.add(["p1"], 100.0)
    [taken] = work.take(100.0, lease=60.0)
    work.add(["p1"], 101.0)  # the post changed again while it was being synced
    assert work.take(102.0, lease=60.0) == []  # not worked on twice at once
    assert not work.done(taken, 103.0)  # the change is not lost...
    [again] = work.take(103.0, lease=60.0)  # ...it is due again at once
    assert work.done(again, 104.0) and work.size() == 0


def test_failures_back_off_and_a_success_forgets_them(store: Store) -> None:
    """Each failure in a row waits longer (15 s, 30 s, ...); the item is never lost."""
    work = WorkList(store, "export")
    work.add(["/feeds/vi/all.rss"], 0.0)
    [first] = work.take(0.0, lease=10.0)
    assert work.fail(first, 0.0) == 1 and work.take(14.0, lease=10.0) == []
    [second] = work.take(15.0, lease=10.0)
    assert work.fail(second, 15.0) == 2 and work.take(44.0, lease=10.0) == []
    [third] = work.take(45.0, lease=10.0)
    assert work.done(third, 46.0) and work.size() == 0


def test_a_rendered_document_owes_its_ping_until_the_hub_took_it(
    settings: Settings, store: Store
) -> None:
    """The ping is recorded with the new bytes; a pinger that took it and died leaves it owed,
    and the next pinger (after the lease) delivers it to the hub."""
    hub = Hub()
    try:
        feeds = FeedsConfig(websub_hub=hub.url)
        config = Config(feeds=feeds)
        Ingestor(store, feed_indexer(feeds), settings.limits).ingest(make_event(1), source="t")
        storage = FeedStorage(store)
        report = storage.render(FeedRef("vi", "all"), feeds)
        owed = {item for item, _ in storage.websub.items()}
        assert set(report.changed) == owed and "/feeds/vi/all.rss" in owed
        dead = storage.websub.take(1e12, lease=60.0)  # a pinger took them, then died
        assert {t.item for t in dead} == owed and hub.pings == []
        assert ping_owed(storage.websub, hub.url, config.feeds.base_url) == 0  # still leased
        for item in dead:  # its lease ran out: due again
            storage.websub.retry(item.item, 0.0)
        assert ping_owed(storage.websub, hub.url, config.feeds.base_url) == len(owed)
        pinged = {u for ping in hub.pings for u in ping["hub.url"]}
        assert pinged == {config.feeds.base_url + path for path in owed}
        assert storage.websub.size() == 0
    finally:
        hub.server.shutdown()
