"""Where did this story go: every place an article reached, its state there, and a verdict.

Read from the repositories only (the store, rendered documents, work lists, the posts ledger,
the federation ledger, sitemaps and IndexNow state): a snapshot an editor can trust after a
retraction, "removed from 14 of 14 places", or what is still pending and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import escape as xml_escape

from feeds.catalog import feeds_for_article, is_feed_enabled
from feeds.documents import DocumentStore
from feeds.indexnow import IndexNow
from feeds.sitemaps import NEWS_WINDOW, news_sitemap_path
from syndication.config import Config
from syndication.events import Article
from syndication.federation import Federation
from syndication.posts.ledger import Ledger, PostStatus
from syndication.store import Store
from syndication.worklist import WorkList

__all__ = ["Place", "StoryReport", "story_report"]


@dataclass(frozen=True)
class Place:
    """One place the story reached (or was meant to)."""

    kind: str  # feed, websub, post, activitypub, sitemap, indexnow
    name: str
    state: str
    # For a live story: it is there. For a retracted one: it is gone from there.
    settled: bool
    detail: str = ""
    at: float | None = None


@dataclass
class StoryReport:
    """Every place of one article, and the verdict."""

    article_id: str
    state: str  # live, unpublished, unknown
    title: str = ""
    url: str = ""
    places: list[Place] = field(default_factory=list)

    @property
    def retracted(self) -> bool:
        """The article was unpublished."""
        return self.state == "unpublished"

    @property
    def verdict(self) -> str:
        """One sentence: how many places are settled, and what is pending."""
        settled = sum(1 for p in self.places if p.settled)
        total = len(self.places)
        if self.state == "unknown":
            return f"no article {self.article_id!r} is known"
        word = "removed from" if self.retracted else "reached"
        pending = [p for p in self.places if not p.settled]
        if not pending:
            return f"{word} {settled} of {total} places"
        why = "; ".join(f"{p.kind} {p.name}: {p.state}" for p in pending[:5])
        more = f" (and {len(pending) - 5} more)" if len(pending) > 5 else ""
        return f"{word} {settled} of {total} places; pending: {why}{more}"

    def to_json(self) -> dict[str, object]:
        """One JSON document (``story --json``)."""
        return {
            "article_id": self.article_id,
            "state": self.state,
            "title": self.title,
            "url": self.url,
            "verdict": self.verdict,
            "places": [asdict(p) for p in self.places],
        }


def story_report(store: Store, config: Config, article_id: str) -> StoryReport:
    """Every place ``article_id`` reached and its state there."""
    state = store.article_state(article_id)
    article = store.get_article(article_id)
    if state is None or article is None:
        return StoryReport(article_id, "unknown")
    report = StoryReport(article_id, state.state, article.title, article.url)
    live = state.state == "live"
    report.places += _feeds(store, config, article, state.changed_at)
    report.places += _search(store, config, article, state.changed_at, live)
    report.places += _posts(store, article_id, live)
    report.places += _activitypub(store, config, article_id, live)
    return report


def _feeds(store: Store, config: Config, article: Article, changed_at: float) -> list[Place]:
    documents = DocumentStore(store)
    websub = WorkList(store, "websub")
    feeds = config.feeds
    places: list[Place] = []
    refs = sorted(r for r in feeds_for_article(article, feeds) if is_feed_enabled(r, feeds))
    listed = store.listed_in(article.id, [r.id for r in refs])
    for ref in refs:
        for fmt in feeds.formats:
            path = ref.path(fmt)
            doc = documents.get(path)
            # Settled when the feed's index agrees with the article's state and the document
            # was rendered since the article last changed (an Atom feed keeps a retracted
            # entry's tombstone, so its bytes alone cannot tell).
            fresh = doc is not None and doc.rendered_at >= changed_at
            if listed[ref.id]:
                state = "lists it" if fresh else "render pending"
            else:
                state = "removed" if fresh else "still lists it (render pending)"
            places.append(Place("feed", path, state, fresh, at=doc.rendered_at if doc else None))
            if feeds.websub_hub and doc is not None:
                owed = websub.contains(path)
                places.append(
                    Place(
                        "websub",
                        path,
                        "ping pending" if owed else "hub told of the latest document",
                        not owed,
                    )
                )
    return places


def _search(
    store: Store, config: Config, article: Article, changed_at: float, live: bool
) -> list[Place]:
    places: list[Place] = []
    if config.search.sitemaps.enabled:
        # Only articles of the last two days belong in a news sitemap.
        recent = changed_at - article.published_at.timestamp() < NEWS_WINDOW
        path = news_sitemap_path(article.language)
        doc = DocumentStore(store).get(path)
        if doc is not None and (recent or not live):
            listed = xml_escape(article.url).encode() in doc.body
            fresh = doc.rendered_at >= changed_at
            if live:
                state = "lists it" if listed else "render pending"
            else:
                state = "still lists it (render pending)" if listed else "removed"
            places.append(
                Place("sitemap", path, state, fresh and listed == live, at=doc.rendered_at)
            )
    if config.search.indexnow is not None:
        owed = WorkList(store, "indexnow").contains(article.id)
        token = IndexNow(store, config.search.indexnow).submitted_token(article.id) or ""
        wanted = "live" if live else "gone"
        told = token.startswith(f"{wanted}:") and not owed
        state = f"submitted as {token.split(':', 1)[0]}" if token else "not submitted yet"
        places.append(
            Place(
                "indexnow", config.search.indexnow.host, state + ("; pending" if owed else ""), told
            )
        )
    return places


def _posts(store: Store, article_id: str, live: bool) -> list[Place]:
    places = []
    for post in Ledger(store).for_article(article_id):
        edits = sum(1 for h in post.history if "edited" in str(h.get("note", "")))
        detail = post.remote_url or post.last_error
        if edits:
            detail = f"{detail} (edited {edits}x)".strip()
        if live:
            settled = post.status == PostStatus.SENT and not post.needs_sync
            state = post.status.value + ("; edit pending" if post.needs_sync else "")
        else:
            gone = (PostStatus.DELETED, PostStatus.CANCELLED, PostStatus.FAILED)
            settled = post.status in gone
            state = post.status.value
            if post.status == PostStatus.SENT and not post.delete_requested:
                state = "sent; this channel keeps sent posts"
            elif post.status == PostStatus.SENT:
                state = "sent; delete pending"
        places.append(Place("post", post.channel, state, settled, detail, post.sent_at or None))
    return places


def _activitypub(store: Store, config: Config, article_id: str, live: bool) -> list[Place]:
    federation = Federation(store, config)
    if not federation.enabled:
        return []
    try:
        latest: dict[tuple[str, str], tuple[str, str]] = {}
        for delivery in federation.ledger.for_article(article_id):
            # Oldest first: the last one per (actor, server) is what that server has now.
            latest[(delivery.actor, delivery.host)] = (delivery.type, delivery.status)
        announced = federation.ledger.announcements(article_id)
    finally:
        federation.close()
    places = []
    for (actor, host), (kind, status) in sorted(latest.items()):
        name = f"{actor.rsplit('/', 1)[-1]} -> {host}"
        if live:
            settled = kind in ("Create", "Update") and status == "sent"
        else:
            settled = (kind == "Delete" and status in ("sent", "superseded")) or (
                kind != "Delete" and status in ("superseded", "skipped", "failed")
            )
        places.append(Place("activitypub", name, f"{kind} {status}", settled))
    for actor, announcement in sorted(announced.items()):
        if not any(p.name.startswith(f"{actor} -> ") for p in places):
            state = f"announced {announcement.state} (no follower server)"
            places.append(
                Place("activitypub", actor, state, (announcement.state == "live") == live)
            )
    return places
