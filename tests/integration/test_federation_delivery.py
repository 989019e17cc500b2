"""Publishing to followers: Create, Update and Delete delivered once per server and in
order, the latest state winning, through rate limits and outages, with dead servers skipped."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from feeds.catalog import feed_indexer
from syndication.federation import Federation
from syndication.federation.accounts import Follower
from syndication.federation.ledger import DeliveryStatus
from syndication.federation.remote import Signer
from syndication.ingest import Ingestor
from syndication.settings import Limits, Settings
from syndication.store import Store
from syndication.testing.fediverse import FediverseSandbox
from syndication.worklist import WorkList
from tests.conftest import wait_until
from tests.fediverse_fixtures import follower_server, write_federation
from tests.integration.test_server import make_event

__all__ = ["follower_server"]  # fixtures, imported for pytest to find

FAST = "  delivery: {retry_base: 0, retry_cap: 1, max_attempts: 4, dead_after_failures: 100}\n"


def _federation(settings: Settings, store: Store, extra: str = FAST) -> Federation:
    return Federation(store, write_federation(settings, "https://portal.example", extra=extra))


def _resolver(fed: Federation) -> Callable[[str], str]:
    """How the sandbox finds our public keys without an HTTP server of ours."""

    def resolve(key_id: str) -> str:
        actor = fed.directory.by_url(key_id.split("#", 1)[0])
        assert actor is not None
        return fed.accounts.keypair(actor.username).public_pem

    return resolve


def _follow(fed: Federation, sandbox: FediverseSandbox, actor: str, *users: str) -> None:
    for user in users:
        fed.accounts.add_follower(
            actor,
            Follower(sandbox.actor_url(user), sandbox.inbox_url(user), sandbox.shared_inbox_url),
        )


def _apply(fed: Federation, store: Store, event: dict[str, object]) -> None:
    ingestor = Ingestor(store, feed_indexer(fed.config.feeds), Limits(), owe=("federate",))
    assert ingestor.ingest(event, source="test").status == "applied"
    fed.federator.run()


def _unpublish(n: int, at: str = "2026-11-22T09:00:00+07:00") -> dict[str, object]:
    return {
        "id": f"evt-gone-{n}",
        "type": "article.unpublished",
        "occurred_at": at,
        "article": {"id": f"art-{n:05d}"},
    }


def _deliver_all(fed: Federation, timeout: float = 15.0) -> None:
    """Send every due delivery, as senders would, until none is pending or sending."""

    def settled() -> bool:
        for delivery_id in fed.ledger.due_ids(time.time()):
            fed.deliverer.deliver(delivery_id, "test-sender", time.time())
        counts = fed.ledger.counts()
        return not counts.get("pending") and not counts.get("sending")

    wait_until(settled, timeout=timeout, interval=0.02, message="every delivery settled")


def test_applied_events_owe_the_federate_stage_when_actors_exist(
    settings: Settings, store: Store
) -> None:
    """The apply script records the article in the ``federate`` work list, and the
    worker's ingestor owes that stage once actors are configured."""
    from workers.runtime import Runtime

    fed = _federation(settings, store)
    assert "federate" in Runtime(settings).ingestor.owe
    Ingestor(store, feed_indexer(fed.config.feeds), Limits(), owe=("federate",)).ingest(
        make_event(1), source="test"
    )
    assert WorkList(store, "federate").contains("art-00001")


def test_a_story_reaches_each_server_once_as_create_update_delete(
    settings: Settings, store: Store, follower_server
) -> None:
    """Two followers on one server get one delivery (its shared inbox); the language and the
    category actor each announce the story; every server sees Create, Update, Delete once,
    in order, signed."""
    fed = _federation(settings, store)
    one = follower_server("ana", "bao", resolve_key=_resolver(fed))
    two = follower_server("chi", resolve_key=_resolver(fed))
    _follow(fed, one, "vi", "ana", "bao")
    _follow(fed, one, "vi-heritage", "ana")
    _follow(fed, two, "vi", "chi")
    _follow(fed, two, "ja", "chi")

    _apply(fed, store, make_event(1))
    assert fed.ledger.counts() == {"pending": 3}
    _deliver_all(fed)
    _apply(fed, store, make_event(2, id="art-00001", updated_at="2026-11-21T08:00:00+07:00"))
    _deliver_all(fed)
    _apply(fed, store, _unpublish(1))
    _deliver_all(fed)

    assert fed.ledger.counts() == {"sent": 9}
    vi = "https://portal.example/users/vi"
    heritage = "https://portal.example/users/vi-heritage"
    assert sorted((r.type, r.activity["actor"]) for r in one.received()) == sorted(
        (kind, actor) for kind in ("Create", "Update", "Delete") for actor in (vi, heritage)
    )
    assert [r.type for r in two.received()] == ["Create", "Update", "Delete"]
    for server in (one, two):
        assert len(server.raw()) == len(server.received()), "nothing arrived twice"
        assert all(r.inbox == "/inbox" and r.verified for r in server.raw())
        for actor in {r.activity["actor"] for r in server.received()}:
            kinds = [r.type for r in server.received() if r.activity["actor"] == actor]
            assert kinds == ["Create", "Update", "Delete"], "in order for each actor"
    [create] = two.received("Create")
    note = create.activity["object"]
    assert note["id"] == "https://portal.example/users/vi/articles/art-00001"
    assert note["contentMap"]["vi"] == note["content"] and "Phố cổ Hội An" in note["content"]
    assert note["attachment"][0]["name"] == "Đèn lồng"
    [update] = two.received("Update")
    assert update.activity["object"]["id"] == note["id"]
    assert update.activity["object"]["updated"] == "2026-11-21T01:00:00Z"
    [delete] = two.received("Delete")
    assert delete.activity["object"] == {
        "id": note["id"],
        "type": "Tombstone",
        "formerType": "Note",
        "deleted": delete.activity["object"]["deleted"],
    }


def test_a_delete_wins_over_updates_not_yet_sent(
    settings: Settings, store: Store, follower_server
) -> None:
    """Updates still pending when the story is retracted are never sent; the Delete is."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    _apply(fed, store, make_event(1, language="ja"))
    _deliver_all(fed)
    for day in (21, 22):
        _apply(
            fed,
            store,
            make_event(day, id="art-00001", language="ja", updated_at=f"2026-11-{day}T08:00:00Z"),
        )
    _apply(fed, store, _unpublish(1, at="2026-11-23T09:00:00+07:00"))
    _deliver_all(fed)
    assert [r.type for r in server.raw()] == ["Create", "Delete"]
    assert fed.ledger.counts() == {"sent": 2, "superseded": 2}
    notes = [d.note for d in fed.ledger.for_article("art-00001") if d.type == "Update"]
    assert notes == ["superseded by a later Update before it was sent"] * 1 + [
        "superseded by a later Delete before it was sent"
    ]


def test_a_create_never_sent_and_its_delete_are_both_dropped(
    settings: Settings, store: Store, follower_server
) -> None:
    """Published and retracted before any delivery: the server is sent nothing at all."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    _apply(fed, store, make_event(1, language="ja"))
    _apply(fed, store, _unpublish(1))
    _deliver_all(fed)
    assert server.raw() == [] and fed.ledger.counts() == {"superseded": 2}


def test_an_update_waits_for_its_create_in_flight(
    settings: Settings, store: Store, follower_server
) -> None:
    """While the Create is being sent, its Update is not claimed; settling the Create
    releases the Update at once."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    _apply(fed, store, make_event(1, language="ja"))
    [create_id] = fed.ledger.due_ids(time.time())
    assert fed.ledger.claim(create_id, "slow", time.time(), 60, wait=2) == "claimed"
    _apply(
        fed, store, make_event(2, id="art-00001", language="ja", updated_at="2026-11-21T08:00:00Z")
    )
    [update_id] = fed.ledger.due_ids(time.time())
    assert fed.deliverer.deliver(update_id, "other", time.time()).status == "waiting"
    settled = fed.ledger.settle(
        create_id, DeliveryStatus.SENDING, DeliveryStatus.SENT, time.time(), owner="slow"
    )
    assert settled and settled.released == update_id
    assert fed.deliverer.deliver(update_id, "other", time.time()).status == "sent"


def test_two_senders_never_claim_one_delivery(settings: Settings, store: Store) -> None:
    """The claim is a compare-and-set: the second sender is told the delivery is sending."""
    fed = _federation(settings, store)
    fed.accounts.add_follower("ja", Follower("https://x.example/u", "https://x.example/inbox"))
    _apply(fed, store, make_event(1, language="ja"))
    [delivery_id] = fed.ledger.due_ids(time.time())
    now = time.time()
    assert fed.ledger.claim(delivery_id, "a", now, 60, wait=2) == "claimed"
    assert fed.ledger.claim(delivery_id, "b", now, 60, wait=2) == "sending"
    assert not fed.ledger.settle(
        delivery_id, DeliveryStatus.SENDING, DeliveryStatus.SENT, now, owner="b"
    ), "a sender that does not hold the claim cannot settle it"


def test_rate_limits_and_outages_are_retried_until_delivered(
    settings: Settings, store: Store, follower_server
) -> None:
    """A 429 (with Retry-After) and a 503 are retried; the third attempt delivers."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    server.fail_next(429, headers={"Retry-After": "0"})
    server.fail_next(503)
    _apply(fed, store, make_event(1, language="ja"))
    _deliver_all(fed)
    [delivery] = fed.ledger.for_article("art-00001")
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 3
    assert [r.fault for r in server.requests_to("POST", "/inbox")] == ["fail", "fail", None]
    assert len(server.received("Create")) == 1
    assert fed.ledger.server(delivery.host)["failures"] == "0"


def test_a_delivery_is_given_up_after_its_attempts(
    settings: Settings, store: Store, follower_server
) -> None:
    """A server that keeps answering 503 gets ``max_attempts`` tries, then the delivery fails."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    server.fail_next(503, count=10)
    _apply(fed, store, make_event(1, language="ja"))
    _deliver_all(fed)
    [delivery] = fed.ledger.for_article("art-00001")
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 4
    assert delivery.last_error.startswith("gave up after 4 attempts")
    assert len(server.requests_to("POST", "/inbox")) == 4


def test_a_refusal_fails_the_delivery_at_once(
    settings: Settings, store: Store, follower_server
) -> None:
    """A 403 is not retried."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    server.fail_next(403)
    _apply(fed, store, make_event(1, language="ja"))
    _deliver_all(fed)
    [delivery] = fed.ledger.for_article("art-00001")
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "HTTP 403" in delivery.last_error


def test_a_dead_server_is_marked_and_then_skipped(
    settings: Settings, store: Store, follower_server
) -> None:
    """After repeated failures a server is marked dead; its deliveries are skipped without
    a request, while another server keeps receiving."""
    fed = _federation(
        settings,
        store,
        "  delivery: {retry_base: 0, max_attempts: 10, dead_after_failures: 3,"
        " dead_after: 0, dead_for: 1h}\n",
    )
    dead = follower_server("ana", resolve_key=_resolver(fed))
    alive = follower_server("bao", resolve_key=_resolver(fed))
    _follow(fed, dead, "ja", "ana")
    _follow(fed, alive, "ja", "bao")
    dead.fail_next(502, count=100)
    _apply(fed, store, make_event(1, language="ja"))
    _deliver_all(fed)
    host = dead.base_url.split("//")[1]
    assert float(fed.ledger.server(host)["dead_until"]) > time.time() + 3000
    assert len(dead.requests_to("POST", "/inbox")) == 3
    _apply(fed, store, make_event(2, language="ja"))
    _deliver_all(fed)
    assert len(dead.requests_to("POST", "/inbox")) == 3, "no request to a dead server"
    statuses = sorted(
        (d.host == host, d.status.value) for d in fed.ledger.many(fed.ledger.all_ids())
    )
    assert statuses == [(False, "sent"), (False, "sent"), (True, "skipped"), (True, "skipped")]
    assert len(alive.received("Create")) == 2


def test_a_delivery_whose_sender_died_is_sent_again_and_processed_once(
    settings: Settings, store: Store, follower_server
) -> None:
    """A sender that POSTed and died before recording it leaves the delivery sending; when
    its lease ends the dispatcher sends it again, and the server processes the id once."""
    fed = _federation(settings, store)
    server = follower_server("ana", resolve_key=_resolver(fed))
    _follow(fed, server, "ja", "ana")
    _apply(fed, store, make_event(1, language="ja"))
    [delivery_id] = fed.ledger.due_ids(time.time())
    assert fed.ledger.claim(delivery_id, "doomed", time.time(), 0.0, wait=2) == "claimed"
    delivery = fed.ledger.get(delivery_id)
    assert delivery is not None
    signer = Signer(fed.directory.key_id("ja"), fed.accounts.signing_key("ja"))
    fed.remote.post(delivery.inbox, fed.ledger.activity_body(delivery.activity).encode(), signer)
    released: list[str] = []
    report = fed.dispatcher.tick(time.time() + 1, deliver=released.append)
    assert report.recovered == 1 and released == [delivery_id]
    assert fed.deliverer.deliver(delivery_id, "next", time.time()).status == "sent"
    assert len(server.raw("Create")) == 2 and len(server.received("Create")) == 1


@pytest.mark.parametrize("inbox", ["http://10.0.0.1/inbox", "file:///etc/passwd"])
def test_deliveries_to_private_or_odd_addresses_are_refused(
    settings: Settings, store: Store, inbox: str
) -> None:
    """Without allow_private, a follower cannot point our deliveries into our network."""
    config = write_federation(settings, "https://portal.example", extra=FAST, allow_private=False)
    fed = Federation(store, config)
    fed.accounts.add_follower("ja", Follower("https://x.example/u", inbox))
    _apply(fed, store, make_event(1, language="ja"))
    _deliver_all(fed)
    [delivery] = fed.ledger.for_article("art-00001")
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_error.startswith("activitypub: inbox:")
