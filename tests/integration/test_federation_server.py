"""ActivityPub over HTTP on `syndication serve`: discovery, actors, collections, objects, and
the inbox (verified Follow, Undo, Delete; 401 and 413 for what must be refused)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from structlog.testing import capture_logs

from feeds.catalog import feed_indexer
from syndication.config import Config
from syndication.events import parse_event
from syndication.federation.ledger import DeliveryStatus
from syndication.federation.signatures import generate_key_pair, load_private_key, sign_request
from syndication.ingest import Ingestor
from syndication.settings import Limits, Settings
from syndication.store import Store
from tests.fediverse_fixtures import follower_server, serve_app
from tests.integration.test_server import make_event

__all__ = ["follower_server", "serve_app"]  # fixtures, imported for pytest to find

ACTIVITY = "application/activity+json"


def _publish(store: Store, config: Config, *events: dict[str, object]) -> None:
    """Apply events as the workers would: feeds indexed, the federate stage owed."""
    ingestor = Ingestor(store, feed_indexer(config.feeds), Limits(), owe=("federate",))
    for event in events:
        assert ingestor.ingest(event, source="test").status == "applied"


def test_webfinger_finds_an_actor_by_its_acct_uri(serve_app) -> None:
    """acct:vi-heritage@host answers a JRD whose self link is the actor; others 404/400."""
    served = serve_app()
    host = served.base_url.split("//")[1]
    with httpx.Client(base_url=served.base_url) as client:
        resource = {"resource": f"acct:vi-heritage@{host}"}
        found = client.get("/.well-known/webfinger", params=resource)
        missing = client.get("/.well-known/webfinger", params={"resource": f"acct:xx@{host}"})
        bare = client.get("/.well-known/webfinger")
    assert found.status_code == 200
    assert found.headers["content-type"] == "application/jrd+json"
    assert found.json()["subject"] == f"acct:vi-heritage@{host}"
    assert found.json()["links"][0]["href"] == f"{served.base_url}/users/vi-heritage"
    assert (missing.status_code, bare.status_code) == (404, 400)


def test_the_actor_is_served_as_activity_json_and_a_browser_is_redirected(
    serve_app, store: Store
) -> None:
    """Accept: activity+json gets the actor with a key generated once and kept in Redis;
    Accept: text/html is sent to the feed's site page."""
    served = serve_app()
    with capture_logs() as logs, httpx.Client(base_url=served.base_url) as client:
        first = client.get("/users/vi", headers={"Accept": ACTIVITY})
        again = client.get("/users/vi", headers={"Accept": "application/ld+json"})
        page = client.get("/users/vi", headers={"Accept": "text/html"})
        unknown = client.get("/users/nobody", headers={"Accept": ACTIVITY})
    assert first.status_code == 200 and first.headers["content-type"] == ACTIVITY
    doc = first.json()
    assert doc["preferredUsername"] == "vi" and doc["name"] == "Cổng thông tin Việt Nam"
    pem = doc["publicKey"]["publicKeyPem"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert again.json()["publicKey"]["publicKeyPem"] == pem
    stored = store.r.hgetall(store.keys.fed_actor_key("vi"))
    assert stored[b"public"].decode() == pem and b"PRIVATE KEY" in stored[b"private"]
    assert "PRIVATE KEY" not in json.dumps(logs) + first.text
    assert page.status_code == 302 and page.headers["location"] == "http://127.0.0.1:8000/"
    assert unknown.status_code == 404


def test_nodeinfo_is_discoverable(serve_app) -> None:
    """/.well-known/nodeinfo links the 2.1 document, which counts actors and articles."""
    served = serve_app()
    with httpx.Client(base_url=served.base_url) as client:
        links = client.get("/.well-known/nodeinfo").json()["links"]
        doc = client.get(links[0]["href"]).json()
    assert links[0]["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    assert doc["software"]["name"] == "syndication" and doc["usage"]["users"]["total"] == 3


def test_the_outbox_pages_through_the_latest_items_of_the_actors_feed(
    serve_app, store: Store
) -> None:
    """totalItems counts the feed; pages hold Creates, newest first, linked by next/prev."""
    served = serve_app(extra="  outbox_page_size: 2\n")
    _publish(
        store,
        served.config,
        *(make_event(n, published_at=f"2026-11-20T0{n}:00:00+07:00") for n in (1, 2, 3)),
        make_event(4, language="ja"),
    )
    with httpx.Client(base_url=served.base_url) as client:
        outbox = client.get("/users/vi/outbox").json()
        page1 = client.get(outbox["first"]).json()
        page2 = client.get(page1["next"]).json()
        bad = client.get("/users/vi/outbox", params={"page": "x"})
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 3
    assert [a["type"] for a in page1["orderedItems"]] == ["Create", "Create"]
    items = page1["orderedItems"] + page2["orderedItems"]
    ids = [a["object"]["id"].rsplit("/", 1)[1] for a in items]
    assert ids == ["art-00003", "art-00002", "art-00001"]
    assert "next" not in page2 and page2["prev"] == outbox["first"]
    assert bad.status_code == 400


def test_followers_show_their_count_only(serve_app, follower_server) -> None:
    """The followers collection counts followers without listing them (the default)."""
    served = serve_app()
    sandbox = follower_server("ana", "bao")
    for name in ("ana", "bao"):
        sandbox.follow(f"{served.base_url}/@vi@{served.base_url.split('//')[1]}", name)
    with httpx.Client(base_url=served.base_url) as client:
        doc = client.get("/users/vi/followers").json()
    assert doc["totalItems"] == 2 and "orderedItems" not in doc and "first" not in doc


def test_a_follow_is_verified_recorded_and_answered_with_a_signed_accept(
    serve_app, follower_server, store: Store
) -> None:
    """A signed Follow records the follower with its shared inbox and a durable Accept,
    which reaches the follower signed (it verifies with our published key)."""
    served = serve_app()
    sandbox = follower_server("ana")
    host = served.base_url.split("//")[1]
    follow_id, answer = sandbox.follow(f"{served.base_url}/@vi@{host}", "ana")
    assert answer.status_code == 202
    [follower] = served.federation.accounts.followers("vi")
    assert follower.id == sandbox.actor_url("ana")
    assert follower.shared_inbox == sandbox.shared_inbox_url and follower.follow_id == follow_id
    [delivery_id] = served.federation.ledger.all_ids()
    delivery = served.federation.ledger.get(delivery_id)
    assert delivery is not None and delivery.type == "Accept"
    assert delivery.inbox == sandbox.inbox_url("ana") and delivery.status == DeliveryStatus.PENDING
    result = served.federation.deliverer.deliver(delivery_id, "test", time.time())
    assert result.status == "sent"
    assert sandbox.is_accepted(f"{served.base_url}/users/vi", "ana")
    [accept] = sandbox.received("Accept")
    assert accept.verified and accept.key_id == f"{served.base_url}/users/vi#main-key"
    assert accept.activity["object"]["id"] == follow_id


def test_undo_and_delete_forget_a_follower(serve_app, follower_server) -> None:
    """Undo of a Follow removes it from that actor; Delete of the account removes it from
    every actor."""
    served = serve_app()
    sandbox = follower_server("ana")
    host = served.base_url.split("//")[1]
    accounts = served.federation.accounts
    follow_vi, _ = sandbox.follow(f"{served.base_url}/@vi@{host}", "ana")
    sandbox.follow(f"{served.base_url}/@ja@{host}", "ana")
    assert accounts.follower_count("vi") == accounts.follower_count("ja") == 1
    vi = sandbox.lookup(f"{served.base_url}/@vi@{host}")
    assert sandbox.unfollow(vi, follow_vi, "ana").status_code == 202
    assert accounts.follower_count("vi") == 0 and accounts.follower_count("ja") == 1
    delete = {
        "id": sandbox.actor_url("ana") + "#delete",
        "type": "Delete",
        "actor": sandbox.actor_url("ana"),
        "object": sandbox.actor_url("ana"),
    }
    assert sandbox.signed_post(f"{served.base_url}/inbox", delete, "ana").status_code == 202
    assert accounts.follower_count("ja") == 0


def test_the_delete_of_an_account_whose_key_is_gone_is_confirmed_and_applied(
    serve_app, follower_server
) -> None:
    """A deleted account's key can no longer be fetched: its Delete cannot be verified, so
    the account itself is fetched, and its 410 is what makes us forget it."""
    served = serve_app()
    sandbox = follower_server("ana", "bao")
    host = served.base_url.split("//")[1]
    accounts = served.federation.accounts
    for name in ("ana", "bao"):
        sandbox.follow(f"{served.base_url}/@vi@{host}", name)
    accounts.forget_actor(sandbox.actor_url("ana") + "#main-key")  # the cache expired
    sandbox.delete_user("ana")
    delete = {
        "id": sandbox.actor_url("ana") + "#delete",
        "type": "Delete",
        "actor": sandbox.actor_url("ana"),
        "object": sandbox.actor_url("ana"),
    }
    assert sandbox.signed_post(f"{served.base_url}/inbox", delete, "ana").status_code == 202
    assert [f.id for f in accounts.followers("vi")] == [sandbox.actor_url("bao")]
    forged = {**delete, "actor": sandbox.actor_url("bao"), "object": sandbox.actor_url("bao")}
    answer = sandbox.signed_post(f"{served.base_url}/inbox", forged, "ana")
    assert answer.status_code == 401, "a live account is never forgotten on a bad signature"
    assert accounts.follower_count("vi") == 1


def test_other_activities_are_accepted_and_ignored(serve_app, follower_server) -> None:
    """A signed Like is answered 202 and changes nothing."""
    served = serve_app()
    sandbox = follower_server("ana")
    like = {"id": "x#like", "type": "Like", "actor": sandbox.actor_url("ana"), "object": "y"}
    answer = sandbox.signed_post(f"{served.base_url}/users/vi/inbox", like, "ana")
    assert answer.status_code == 202 and served.federation.ledger.all_ids() == []


# --- refusals ------------------------------------------------------------------------------
def _follow_body(sandbox, served) -> bytes:
    return json.dumps(
        {
            "id": sandbox.actor_url("ana") + "/follows/1",
            "type": "Follow",
            "actor": sandbox.actor_url("ana"),
            "object": f"{served.base_url}/users/vi",
        }
    ).encode()


def _post(served, headers: dict[str, str], body: bytes) -> httpx.Response:
    with httpx.Client(base_url=served.base_url) as client:
        return client.post("/users/vi/inbox", content=body, headers=headers)


def test_an_unsigned_request_gets_401(serve_app, follower_server) -> None:
    """A Follow without a Signature header is refused and nothing is recorded."""
    served = serve_app()
    sandbox = follower_server("ana")
    answer = _post(served, {"Content-Type": ACTIVITY}, _follow_body(sandbox, served))
    assert answer.status_code == 401 and "Signature: required" in answer.json()["error"]
    assert served.federation.accounts.follower_count("vi") == 0


def test_a_request_signed_with_another_key_gets_401(serve_app, follower_server) -> None:
    """A Follow claiming the sandbox user's keyId but signed with a stranger's key is refused."""
    served = serve_app()
    sandbox = follower_server("ana")
    body = _follow_body(sandbox, served)
    stranger = load_private_key(generate_key_pair(2048)[0])
    headers = sign_request(
        "POST",
        f"{served.base_url}/users/vi/inbox",
        body,
        key_id=sandbox.actor_url("ana") + "#main-key",
        private_key=stranger,
        now=datetime.now(UTC),
    )
    answer = _post(served, headers, body)
    assert answer.status_code == 401 and "does not verify" in answer.json()["error"]
    assert served.federation.accounts.follower_count("vi") == 0


def test_a_stale_signature_gets_401(serve_app, follower_server) -> None:
    """A Follow signed two hours ago (a replay) is refused before any key is fetched."""
    served = serve_app()
    sandbox = follower_server("ana")
    body = _follow_body(sandbox, served)
    headers = sign_request(
        "POST",
        f"{served.base_url}/users/vi/inbox",
        body,
        key_id=sandbox.actor_url("ana") + "#main-key",
        private_key=load_private_key(sandbox._keys["ana"][0]),
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    answer = _post(served, headers, body)
    assert answer.status_code == 401 and answer.json()["error"].startswith("Date:")
    assert sandbox.requests_to("GET", "/users/ana") == []


def test_a_body_over_the_limit_gets_413(serve_app) -> None:
    """Bodies past federation.max_body_bytes are refused, declared or streamed."""
    served = serve_app(extra="  max_body_bytes: 2048\n")
    declared = _post(served, {"Content-Type": ACTIVITY}, b"x" * 4096)

    def chunks():
        for _ in range(8):
            yield b"y" * 512

    with httpx.Client(base_url=served.base_url) as client:
        streamed = client.post("/inbox", content=chunks(), headers={"Content-Type": ACTIVITY})
    assert declared.status_code == 413 and streamed.status_code == 413


def test_an_activity_whose_actor_is_not_the_signer_gets_401(serve_app, follower_server) -> None:
    """ana may not Follow on behalf of bao: the actor must own the signing key."""
    served = serve_app()
    sandbox = follower_server("ana", "bao")
    follow = json.loads(_follow_body(sandbox, served))
    follow["actor"] = sandbox.actor_url("bao")
    answer = sandbox.signed_post(f"{served.base_url}/users/vi/inbox", follow, "ana")
    assert answer.status_code == 401 and answer.json()["error"].startswith("actor:")


# --- objects -------------------------------------------------------------------------------
def test_a_published_object_is_served_and_a_retracted_one_is_gone(
    serve_app, store: Store, settings: Settings
) -> None:
    """The Note's id resolves while the article is live; after the Delete it answers 410
    with a Tombstone."""
    served = serve_app()
    _publish(store, served.config, make_event(1))
    served.federation.federator.run()
    url = served.federation.directory.object_url("vi", "art-00001")
    with httpx.Client() as client:
        live = client.get(url, headers={"Accept": ACTIVITY})
        other = client.get(url.replace("/vi/", "/ja/"), headers={"Accept": ACTIVITY})
    assert live.status_code == 200 and live.json()["type"] == "Note"
    assert live.json()["contentMap"]["vi"].startswith("<p><a href=")
    assert other.status_code == 404
    store.apply_event(
        parse_event(
            {
                "id": "evt-gone",
                "type": "article.unpublished",
                "occurred_at": "2026-11-21T09:00:00+07:00",
                "article": {"id": "art-00001"},
            }
        ),
        [],
        owe=("federate",),
    )
    served.federation.federator.run()
    with httpx.Client() as client:
        gone = client.get(url, headers={"Accept": ACTIVITY})
    assert gone.status_code == 410 and gone.json()["type"] == "Tombstone"


@pytest.mark.parametrize("path", ["/users/vi/outbox", "/users/vi/followers"])
def test_collections_of_an_unknown_actor_are_404(serve_app, path: str) -> None:
    """Only configured actors have collections."""
    served = serve_app()
    with httpx.Client(base_url=served.base_url) as client:
        assert client.get(path.replace("/vi/", "/zz/")).status_code == 404
