"""The HTTP side of federation, mounted by ``syndication serve``: discovery, actors,
collections, objects and inboxes.

``GET /.well-known/webfinger?resource=acct:vi@host``, ``GET /.well-known/nodeinfo`` and
``/nodeinfo/2.1``, ``GET /users/{name}`` (the actor as ``application/activity+json``; a
browser is sent to the feed's site page), ``/users/{name}/outbox`` (paged),
``/users/{name}/followers`` (its count), ``/users/{name}/articles/{id}`` (a Note, or 410 with
its Tombstone), and ``POST /users/{name}/inbox`` and ``POST /inbox``.

Handlers read Redis in a worker thread (``anyio.to_thread``) like the rest of the server.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from syndication.decoding import read_limited
from syndication.federation import Federation, documents
from syndication.federation.actors import Actor

__all__ = ["federation_routes", "wants_activity_json"]

log = structlog.get_logger(__name__)

# Called with delivery ids the inbox recorded (Accepts), to hand them to a sender at once.
Nudge = Callable[[list[str]], None]

_ACTIVITY_TYPES = ("application/activity+json", "application/ld+json")
_NODEINFO_TYPE = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'


def _version() -> str:
    try:
        return importlib.metadata.version("syndication")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def wants_activity_json(accept: str) -> bool:
    """Whether an ``Accept`` header asks for ActivityStreams rather than a web page."""
    return any(t in accept for t in _ACTIVITY_TYPES) or accept.strip() in ("", "*/*")


def _json(document: Any, status: int = 200, media_type: str = documents.ACTIVITY_JSON) -> Response:
    return JSONResponse(
        document,
        status_code=status,
        media_type=media_type,
        headers={"Access-Control-Allow-Origin": "*", "Vary": "Accept"},
    )


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def federation_routes(federation: Federation, *, nudge: Nudge | None = None) -> list[BaseRoute]:
    """The routes of every configured actor (none when federation is off)."""
    if not federation.enabled:
        return []
    directory = federation.directory
    config = federation.config
    fed = config.federation
    store = federation.store
    version = _version()

    def actor_of(request: Request) -> Actor | None:
        return directory.get(request.path_params["username"])

    async def webfinger(request: Request) -> Response:
        resource = request.query_params.get("resource", "")
        if not resource:
            return _error(400, "resource: required (acct:name@host)")
        actor = directory.by_resource(resource)
        if actor is None:
            return _error(404, f"resource: no such account {resource[:200]!r}")
        return _json(documents.webfinger(directory, actor), media_type=documents.JRD_JSON)

    async def nodeinfo_links(request: Request) -> Response:
        return _json(documents.nodeinfo_links(directory.base_url), media_type="application/json")

    async def nodeinfo(request: Request) -> Response:
        posts = await anyio.to_thread.run_sync(store.count_articles)
        document = documents.nodeinfo(directory, local_posts=posts, version=version)
        return _json(document, media_type=_NODEINFO_TYPE)

    async def actor_document(request: Request) -> Response:
        actor = actor_of(request)
        if actor is None:
            return _error(404, "actor: no such actor")
        if not wants_activity_json(request.headers.get("accept", "")):
            return RedirectResponse(actor.home_url, status_code=302, headers={"Vary": "Accept"})
        pair = await anyio.to_thread.run_sync(federation.accounts.keypair, actor.username)
        return _json(documents.actor_document(directory, actor, pair.public_pem))

    def outbox_page(actor: Actor, page: int) -> dict[str, Any]:
        size = fed.outbox_page_size
        total = min(store.feed_size(actor.feed_id), config.feeds.max_items)
        url = directory.outbox_url(actor.username)
        if page < 1:
            return documents.collection(url, total, first=f"{url}?page=1" if total else None)
        ids = store.feed_article_ids(actor.feed_id, min(total, page * size))[(page - 1) * size :]
        announced = federation.ledger.announced_by(actor.username, ids)
        items = []
        for article_id, article in zip(ids, store.get_articles(ids), strict=True):
            if article is None:
                continue
            ann = announced.get(article_id)
            object_id = directory.object_url(
                actor.username, article_id, ann.incarnation if ann else 0
            )
            note = documents.note(
                article,
                actor,
                directory,
                object_id=object_id,
                object_type=ann.object_type if ann else fed.object_type,
                tag_urls=documents.tag_feed_urls(article, config.feeds),
            )
            items.append(documents.activity(
                "Create", f"{object_id}#create", directory.actor_url(actor.username), note,
                followers=directory.followers_url(actor.username),
                published=article.published_at.timestamp(),
            ))  # fmt: skip
        more = page * size < total
        return documents.collection_page(
            f"{url}?page={page}",
            url,
            items,
            next_url=f"{url}?page={page + 1}" if more else None,
            prev_url=f"{url}?page={page - 1}" if page > 1 else None,
        )

    async def outbox(request: Request) -> Response:
        actor = actor_of(request)
        if actor is None:
            return _error(404, "actor: no such actor")
        page_text = request.query_params.get("page", "0")
        if not page_text.isdigit() or int(page_text) > 10_000:
            return _error(400, "page: not a page number")
        document = await anyio.to_thread.run_sync(outbox_page, actor, int(page_text))
        return _json(document)

    def followers_document(actor: Actor) -> dict[str, Any]:
        url = directory.followers_url(actor.username)
        if not fed.show_followers:
            return documents.collection(url, federation.accounts.follower_count(actor.username))
        ids = [f.id for f in federation.accounts.followers(actor.username)]
        document = documents.collection(url, len(ids))
        document["orderedItems"] = ids[:1000]
        return document

    async def followers(request: Request) -> Response:
        actor = actor_of(request)
        if actor is None:
            return _error(404, "actor: no such actor")
        return _json(await anyio.to_thread.run_sync(followers_document, actor))

    def object_document(actor: Actor, article_id: str, incarnation: int) -> tuple[int, Any]:
        object_id = directory.object_url(actor.username, article_id, incarnation)
        ann = federation.ledger.announcements(article_id).get(actor.username)
        current = ann.incarnation if ann else 0
        object_type = ann.object_type if ann else fed.object_type
        if ann is not None and (
            incarnation < current or (incarnation == current and ann.state == "deleted")
        ):
            return 410, documents.tombstone(object_id, object_type, time.time())
        article = store.get_article(article_id)
        state = store.article_state(article_id)
        if (
            incarnation != current
            or article is None
            or state is None
            or state.state != "live"
            or not actor.announces(article)
        ):
            return 404, {"error": "object: no such object"}
        note = documents.note(
            article,
            actor,
            directory,
            object_id=object_id,
            object_type=object_type,
            tag_urls=documents.tag_feed_urls(article, config.feeds),
        )
        return 200, {"@context": documents.CONTEXT, **note}

    async def article_object(request: Request) -> Response:
        actor = actor_of(request)
        if actor is None:
            return _error(404, "actor: no such actor")
        incarnation = request.path_params.get("incarnation", 0)
        status, document = await anyio.to_thread.run_sync(
            object_document, actor, request.path_params["article_id"], incarnation
        )
        return _json(document, status=status)

    async def inbox(request: Request) -> Response:
        username = request.path_params.get("username")
        declared = request.headers.get("content-length", "")
        too_big = f"body: larger than {fed.max_body_bytes} bytes"
        if declared.isdigit() and int(declared) > fed.max_body_bytes:
            return _error(413, too_big)
        body = await read_limited(request.stream(), fed.max_body_bytes)
        if body is None:
            return _error(413, too_big)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # Repeated headers are joined with ", " as the signature draft says.
        headers = {k: ", ".join(request.headers.getlist(k)) for k in request.headers}

        def receive() -> Any:
            return federation.inbox.receive(
                request.method, target, headers, body, username=username, now=time.time()
            )

        answer = await anyio.to_thread.run_sync(receive)
        if answer.recorded and nudge is not None:
            try:
                await anyio.to_thread.run_sync(nudge, list(answer.recorded))
            except Exception:
                # The Accept is recorded; beat's dispatcher sends it within seconds anyway.
                log.warning("federation.nudge_failed", exc_info=True)
        return (
            _error(answer.status, answer.message)
            if answer.status >= 400
            else JSONResponse({"status": answer.message}, status_code=answer.status)
        )

    return [
        Route("/.well-known/webfinger", webfinger, methods=["GET"]),
        Route("/.well-known/nodeinfo", nodeinfo_links, methods=["GET"]),
        Route("/nodeinfo/2.1", nodeinfo, methods=["GET"]),
        Route("/users/{username}", actor_document, methods=["GET"]),
        Route("/users/{username}/outbox", outbox, methods=["GET"]),
        Route("/users/{username}/followers", followers, methods=["GET"]),
        Route("/users/{username}/articles/{article_id}", article_object, methods=["GET"]),
        Route(
            "/users/{username}/articles/{article_id}/{incarnation:int}",
            article_object,
            methods=["GET"],
        ),
        Route("/users/{username}/inbox", inbox, methods=["POST"]),
        Route("/inbox", inbox, methods=["POST"]),
    ]
