"""Interoperability with an independent ActivityPub implementation: Fedify (Node.js), run
by the tests as a remote server (tests/fediverse_peer, installed on first use).

Fedify looks our actor up by WebFinger over https, follows it with a draft-cavage signed
Follow (verified by our inbox), and receives our Accept, Create, Update and Delete, each
verified by Fedify's own signature code against the key it fetched from our actor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx

from feeds.catalog import feed_indexer
from syndication.federation.signatures import generate_key_pair, load_private_key, sign_request
from syndication.ingest import Ingestor
from syndication.settings import Limits, Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.fediverse_fixtures import Served, fedify_install, fedify_peer, serve_app
from tests.integration.test_server import make_event

__all__ = ["fedify_install", "fedify_peer", "serve_app"]  # fixtures, for pytest to find

UNPUBLISH = {
    "id": "evt-retract-1",
    "type": "article.unpublished",
    "occurred_at": "2026-11-22T09:00:00+07:00",
    "article": {"id": "art-00001"},
}


def _host(served: Served) -> str:
    return served.base_url.split("//", 1)[1]


def _apply(served: Served, store: Store, event: dict[str, object]) -> None:
    ingestor = Ingestor(store, feed_indexer(served.config.feeds), Limits(), owe=("federate",))
    assert ingestor.ingest(event, source="test").status == "applied"


def test_fedify_follows_our_actor_and_receives_create_update_and_delete(
    serve_app, fedify_peer, worker_factory, settings: Settings, store: Store
) -> None:
    """The whole path against Fedify: WebFinger + actor over https, a Follow our inbox
    verifies, then Accept, Create, Update and Delete sent by a real worker, each one verified
    by Fedify; Update and Delete name the object the Create made."""
    served = serve_app(tls=True)
    peer = fedify_peer(served.cert)
    host = _host(served)
    actor = f"{served.base_url}/users/vi"

    followed = peer.control("/control/follow", {"handle": f"@vi@{host}"})
    # What Fedify parsed from our WebFinger answer and actor document.
    assert followed["id"] == actor and followed["type"] == "Service"
    assert followed["preferredUsername"] == "vi" and followed["name"] == "Cổng thông tin Việt Nam"
    assert followed["icon"] == "https://portal.example/icon.png"
    assert followed["inbox"] == f"{actor}/inbox"
    assert followed["followers"] == f"{actor}/followers"
    assert followed["sharedInbox"] == f"{served.base_url}/inbox"
    assert followed["publicKeyId"] == f"{actor}#main-key"
    # Fedify's signed Follow passed our inbox: the follower is recorded with its inboxes.
    [follower] = served.federation.accounts.followers("vi")
    assert follower.id == f"{peer.origin}/users/reader"
    assert follower.shared_inbox == f"{peer.origin}/inbox"
    assert follower.follow_id == followed["follow"]

    worker_factory(settings, "-c", "2", "-Q", "deliver", "--beat")
    [accept] = wait_until(lambda: peer.received("Accept"), timeout=60, message="Accept at Fedify")
    assert accept["actor"] == actor and accept["objectId"] == followed["follow"]

    _apply(served, store, make_event(1))
    [create] = wait_until(lambda: peer.received("Create"), timeout=60, message="Create")
    _apply(served, store, make_event(2, id="art-00001", updated_at="2026-11-21T08:00:00+07:00"))
    [update] = wait_until(lambda: peer.received("Update"), timeout=60, message="Update")
    _apply(served, store, UNPUBLISH)
    [delete] = wait_until(lambda: peer.received("Delete"), timeout=60, message="Delete")

    object_id = f"{actor}/articles/art-00001"
    assert (create["actor"], create["objectType"], create["objectId"]) == (actor, "Note", object_id)
    assert (update["objectType"], update["objectId"]) == ("Note", object_id)
    assert (delete["objectType"], delete["objectId"]) == ("Tombstone", object_id)
    note = create["json"]["object"]
    assert note["contentMap"]["vi"].startswith('<p><a href="https://portal.example/vi/heritage')
    assert note["url"] == "https://portal.example/vi/heritage/hoi-an"
    attachment = note["attachment"]
    attachment = attachment[0] if isinstance(attachment, list) else attachment
    assert attachment["type"] == "Image" and attachment["name"] == "Đèn lồng"
    tags = note["tag"] if isinstance(note["tag"], list) else [note["tag"]]
    assert {"type": "Hashtag", "name": "#HoiAn"} in [
        {k: t[k] for k in ("type", "name")} for t in tags
    ]
    assert update["json"]["object"]["updated"] == "2026-11-21T01:00:00Z"
    assert [r["type"] for r in peer.received()] == ["Accept", "Create", "Update", "Delete"]
    assert peer.errors() == []
    deliveries = served.federation.ledger.many(served.federation.ledger.all_ids())
    assert sorted(d.type for d in deliveries) == ["Accept", "Create", "Delete", "Update"]
    assert {d.inbox for d in deliveries if d.type != "Accept"} == {f"{peer.origin}/inbox"}


def test_fedify_refuses_a_delivery_whose_signature_does_not_verify(serve_app, fedify_peer) -> None:
    """Fedify does verify: a Create claiming to be from our actor, signed by another key,
    is refused with 401 and never reaches its listeners."""
    served = serve_app(tls=True)
    peer = fedify_peer(served.cert)
    peer.control("/control/follow", {"handle": f"@vi@{_host(served)}"})
    actor = f"{served.base_url}/users/vi"
    body = json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}/articles/forged#create",
            "type": "Create",
            "actor": actor,
            "object": {
                "id": f"{actor}/articles/forged",
                "type": "Note",
                "attributedTo": actor,
                "content": "forged",
            },
        }
    ).encode()
    headers = sign_request(
        "POST",
        f"{peer.origin}/inbox",
        body,
        key_id=f"{actor}#main-key",
        private_key=load_private_key(generate_key_pair(2048)[0]),
        now=datetime.now(UTC),
    )
    answer = httpx.post(f"{peer.origin}/inbox", content=body, headers=headers, timeout=30)
    assert answer.status_code == 401
    assert peer.received("Create") == []


def test_fedify_reads_our_nodeinfo_and_outbox_and_undoes_its_follow(
    serve_app, fedify_peer, store: Store
) -> None:
    """Fedify's strict NodeInfo parser accepts ours; its collection traversal pages through
    our outbox; its Undo of the Follow is verified and forgets the follower."""
    served = serve_app(tls=True, extra="  outbox_page_size: 2\n")
    peer = fedify_peer(served.cert)
    handle = f"@vi@{_host(served)}"
    for n in (1, 2, 3):
        _apply(served, store, make_event(n, published_at=f"2026-11-20T0{n}:00:00+07:00"))

    info = peer.control("/control/nodeinfo", {"url": served.base_url + "/"})
    assert info == {"software": "syndication", "protocols": ["activitypub"], "users": 3}
    outbox = peer.control("/control/outbox", {"handle": handle})
    assert outbox["totalItems"] == 3
    assert [i["type"] for i in outbox["items"]] == ["Create"] * 3
    assert [i["objectId"].rsplit("/", 1)[1] for i in outbox["items"]] == [
        "art-00003",
        "art-00002",
        "art-00001",
    ]

    peer.control("/control/follow", {"handle": handle})
    assert served.federation.accounts.follower_count("vi") == 1
    peer.control("/control/unfollow", {"handle": handle})
    assert served.federation.accounts.follower_count("vi") == 0
