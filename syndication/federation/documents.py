"""The JSON documents we serve and send: WebFinger, NodeInfo, actors, collections, Notes and
the activities that carry them.

Pure functions of the directory, articles and times. Only contexts that every
implementation has built in (ActivityStreams and security/v1) are referenced; the few
extension terms Mastodon reads are defined inline, so a JSON-LD processor never has to fetch
a context from the network to read our documents.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from feeds.catalog import FeedRef, tag_slugs
from feeds.slugs import slug_for
from syndication.config.feeds import FeedsConfig
from syndication.events import Article
from syndication.federation.actors import PUBLIC, Actor, Directory

__all__ = [
    "ACTIVITY_JSON",
    "CONTEXT",
    "JRD_JSON",
    "accept",
    "activity",
    "actor_document",
    "collection",
    "collection_page",
    "hashtag_name",
    "iso",
    "nodeinfo",
    "nodeinfo_links",
    "note",
    "tag_feed_urls",
    "tombstone",
    "webfinger",
]

ACTIVITY_JSON = "application/activity+json"
JRD_JSON = "application/jrd+json"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
    },
]


# Mastodon links a hashtag made of letters (any script, with their marks), digits and "_".
_HASHTAG_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def hashtag_name(tag: str) -> str | None:
    """An article tag as a hashtag Mastodon links: ``"di sản"`` → ``"#DiSản"`` (None when
    the tag has no letter: all-digit hashtags are not linked).

    The same rule as the social posts' hashtags (``syndication.posts.templating``); kept here
    because federation and posts are independent packages.
    """
    words = _HASHTAG_WORD.findall(unicodedata.normalize("NFC", tag))
    body = "".join(w[:1].upper() + w[1:] for w in words)
    return "#" + body if any(c.isalpha() for c in body) else None


def iso(moment: datetime | float) -> str:
    """An ActivityStreams time: ISO 8601 in UTC, ``2026-11-20T01:00:00Z``."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- discovery ----------------------------------------------------------------------------
def webfinger(directory: Directory, actor: Actor) -> dict[str, Any]:
    """The JRD that answers ``acct:{username}@{domain}``."""
    url = directory.actor_url(actor.username)
    return {
        "subject": f"acct:{actor.username}@{directory.domain}",
        "aliases": [url],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": url},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": url},
        ],
    }


def nodeinfo_links(base_url: str) -> dict[str, Any]:
    """``/.well-known/nodeinfo``: where the NodeInfo document is."""
    return {"links": [{"rel": NODEINFO_SCHEMA, "href": f"{base_url}/nodeinfo/2.1"}]}


def nodeinfo(directory: Directory, *, local_posts: int, version: str) -> dict[str, Any]:
    """The NodeInfo 2.1 document: software, protocols, how many actors and items."""
    actors = len(directory.actors)
    return {
        "version": "2.1",
        "software": {"name": "syndication", "version": version},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
        "openRegistrations": False,
        "usage": {
            "users": {"total": actors, "activeMonth": actors, "activeHalfyear": actors},
            "localPosts": local_posts,
        },
        "metadata": {"nodeName": directory.site_name},
    }


def actor_document(directory: Directory, actor: Actor, public_pem: str) -> dict[str, Any]:
    """The actor: a Service named and described in its feed's language."""
    url = directory.actor_url(actor.username)
    summary = f"<p>{html.escape(actor.summary)}</p>"
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": url,
        "type": "Service",
        "preferredUsername": actor.username,
        "name": actor.name,
        "nameMap": {actor.language: actor.name},
        "summary": summary,
        "summaryMap": {actor.language: summary},
        "url": actor.home_url,
        "inbox": directory.inbox_url(actor.username),
        "outbox": directory.outbox_url(actor.username),
        "followers": directory.followers_url(actor.username),
        "endpoints": {"sharedInbox": directory.shared_inbox_url},
        "publicKey": {
            "id": directory.key_id(actor.username),
            "owner": url,
            "publicKeyPem": public_pem,
        },
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
    }
    if actor.icon:
        document["icon"] = {"type": "Image", "url": actor.icon}
    return document


# --- collections --------------------------------------------------------------------------
def collection(url: str, total: int, *, first: str | None = None) -> dict[str, Any]:
    """An OrderedCollection: its size, and its first page when it is paged."""
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": url,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        document["first"] = first
    return document


def collection_page(
    url: str, part_of: str, items: Sequence[Any], *, next_url: str | None, prev_url: str | None
) -> dict[str, Any]:
    """One OrderedCollectionPage."""
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": url,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": list(items),
    }
    if next_url:
        document["next"] = next_url
    if prev_url:
        document["prev"] = prev_url
    return document


# --- objects ------------------------------------------------------------------------------
def tag_feed_urls(article: Article, feeds: FeedsConfig) -> dict[str, str]:
    """Tags that have a feed of their own (``feeds.tags``), each with its Atom feed's URL:
    their hashtags link there; the others are plain hashtags."""
    wanted = tag_slugs(feeds)
    urls = {}
    for tag in article.tags:
        slug = slug_for(tag)
        if slug in wanted:
            urls[tag] = FeedRef(article.language, "tag", slug).url("atom", feeds)
    return urls


def _hashtags(article: Article, tag_urls: Mapping[str, str]) -> list[dict[str, str]]:
    tags = []
    seen: set[str] = set()
    for tag in article.tags:
        name = hashtag_name(tag)
        if name is None or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        entry = {"type": "Hashtag", "name": name}
        if tag in tag_urls:
            entry["href"] = tag_urls[tag]
        tags.append(entry)
    return tags


def _content(article: Article, hashtags: Sequence[Mapping[str, str]], with_title: bool) -> str:
    url = html.escape(article.url, quote=True)
    parts = []
    if with_title:
        parts.append(f'<p><a href="{url}"><strong>{html.escape(article.title)}</strong></a></p>')
    if article.summary:
        parts.append(f"<p>{html.escape(article.summary)}</p>")
    parts.append(f'<p><a href="{url}">{html.escape(article.url)}</a></p>')
    if hashtags:
        links = []
        for tag in hashtags:
            label = html.escape(tag["name"])
            href = tag.get("href")
            links.append(
                f'<a href="{html.escape(href, quote=True)}" class="mention hashtag" rel="tag">'
                f"{label}</a>"
                if href
                else label
            )
        parts.append("<p>" + " ".join(links) + "</p>")
    return "".join(parts)


def note(
    article: Article,
    actor: Actor,
    directory: Directory,
    *,
    object_id: str,
    object_type: str = "Note",
    tag_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The object one actor publishes for one article.

    A ``Note`` carries the title, summary, link and hashtags in its content (Mastodon shows
    a Note in full); an ``Article`` has the title as ``name`` and is shown as a link card.
    The lead image is an attachment whose ``name`` is the caption (the alt text). The
    ActivityStreams ``summary`` is left out of a Note: Mastodon reads it as a content warning.
    """
    hashtags = _hashtags(article, tag_urls or {})
    content = _content(article, hashtags, with_title=object_type == "Note")
    document: dict[str, Any] = {
        "id": object_id,
        "type": object_type,
        "attributedTo": directory.actor_url(actor.username),
        "url": article.url,
        "published": iso(article.published_at),
        "to": [PUBLIC],
        "cc": [directory.followers_url(actor.username)],
        "content": content,
        "contentMap": {article.language: content},
        "sensitive": False,
        "tag": hashtags,
    }
    if article.updated_at is not None:
        document["updated"] = iso(article.updated_at)
    if object_type == "Article":
        document["name"] = article.title
        document["nameMap"] = {article.language: article.title}
        if article.summary:
            document["summary"] = html.escape(article.summary)
    image = article.image
    if image is not None:
        attachment: dict[str, Any] = {
            "type": "Image",
            "mediaType": image.type or "image/jpeg",
            "url": image.url,
            "name": image.caption or "",
        }
        if image.width and image.height:
            attachment["width"], attachment["height"] = image.width, image.height
        document["attachment"] = [attachment]
    return document


def tombstone(object_id: str, former_type: str, deleted: float) -> dict[str, Any]:
    """What a deleted object became."""
    return {
        "id": object_id,
        "type": "Tombstone",
        "formerType": former_type,
        "deleted": iso(deleted),
    }


# --- activities ---------------------------------------------------------------------------
def activity(
    kind: str,
    activity_id: str,
    actor_url: str,
    obj: Mapping[str, Any],
    *,
    followers: str,
    published: float,
) -> dict[str, Any]:
    """A public ``Create``, ``Update`` or ``Delete`` of ``obj`` by ``actor_url``."""
    return {
        "@context": CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": actor_url,
        "published": iso(published),
        "to": [PUBLIC],
        "cc": [followers],
        "object": dict(obj),
    }


def accept(actor_url: str, follow: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Accept`` of a ``Follow``: its id is derived from the Follow's, so answering the
    same Follow twice records one activity."""
    digest = hashlib.sha256(str(follow.get("id", "")).encode()).hexdigest()[:24]
    return {
        "@context": CONTEXT,
        "id": f"{actor_url}#accepts/{digest}",
        "type": "Accept",
        "actor": actor_url,
        "object": {
            "id": follow.get("id"),
            "type": "Follow",
            "actor": follow.get("actor"),
            "object": actor_url,
        },
    }
