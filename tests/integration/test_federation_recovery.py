"""A worker killed with SIGKILL while ActivityPub deliveries are in flight: every inbox
still gets every activity, and processes each exactly once."""

from __future__ import annotations

from collections import Counter

from feeds.catalog import feed_indexer
from syndication.federation import Federation
from syndication.federation.ledger import DeliveryStatus
from syndication.ingest import Ingestor
from syndication.settings import Limits, Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.fediverse_fixtures import follower_server, write_federation
from tests.integration.test_federation_delivery import _follow, _resolver
from tests.integration.test_server import make_event

__all__ = ["follower_server"]  # fixtures, imported for pytest to find

ARTICLES = 4
SERVERS = 3


def test_a_worker_killed_mid_delivery_leaves_each_activity_processed_once_per_inbox(
    settings: Settings, store: Store, follower_server, worker_factory
) -> None:
    """Deliveries are slow (each POST takes half a second) and a worker is SIGKILLed while
    some are being sent. Its claims run out (lease 3 s) and the messages it held are handed
    out again (3 s); a second worker sends them with the same activity ids, and each server
    ends with every activity processed once; only those in flight at the kill arrived twice."""
    config = write_federation(
        settings,
        "https://portal.example",
        extra="  delivery: {lease: 3, redispatch_after: 3, retry_base: 0, retry_cap: 1}\n",
    )
    fed = Federation(store, config)
    servers = [follower_server(f"user{i}", resolve_key=_resolver(fed)) for i in range(SERVERS)]
    for i, server in enumerate(servers):
        _follow(fed, server, "vi", f"user{i}")
        _follow(fed, server, "vi-heritage", f"user{i}")
        server.delay_next(0.5, count=1000, method="POST")
    ingestor = Ingestor(store, feed_indexer(config.feeds), Limits(), owe=("federate",))
    for n in range(1, ARTICLES + 1):
        assert ingestor.ingest(make_event(n), source="test").status == "applied"
    expected = ARTICLES * 2 * SERVERS  # a Create from @vi and from @vi-heritage per server

    first = worker_factory(settings, "-c", "4", "-Q", "deliver", "--beat")
    wait_until(
        lambda: fed.ledger.counts().get("sending", 0) >= 2,
        timeout=60,
        message="deliveries in flight",
    )
    first.kill()
    deliveries = fed.ledger.many(fed.ledger.all_ids())
    in_flight = {d.activity_id for d in deliveries if d.status == DeliveryStatus.SENDING}
    assert in_flight, "the kill happened while deliveries were being sent"

    worker_factory(settings, "-c", "4", "-Q", "deliver", "--beat")
    wait_until(
        lambda: fed.ledger.counts() == {"sent": expected},
        timeout=90,
        message=f"all {expected} deliveries sent",
    )
    activities = {d.activity_id for d in fed.ledger.many(fed.ledger.all_ids())}
    assert len(activities) == ARTICLES * 2
    for server in servers:
        wait_until(lambda s=server: len(s.received()) == ARTICLES * 2, timeout=10)
        processed = Counter(r.id for r in server.received())
        assert processed == dict.fromkeys(activities, 1), "each activity processed once"
        arrived = Counter(r.id for r in server.raw())
        twice = {activity for activity, n in arrived.items() if n > 1}
        assert twice <= in_flight, "only activities in flight at the kill were sent again"
        assert max(arrived.values()) <= 2
