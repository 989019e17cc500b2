"""Every Redis key the project uses, built from the configured prefix, in one place.

Nothing else formats a key string (a test greps the source to prove it). Ids inside keys are
used as given: article, event, post and feed ids are validated identifiers or slugs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

# The worker queues (each a Redis list kept by kombu): short CPU work (ingest, render) apart
# from network waits (deliver). Celery's app, the metrics and ``status`` all read this one.
QUEUES: tuple[str, ...] = ("ingest", "render", "deliver")


@dataclass(frozen=True)
class Keys:
    """Key builder: ``Keys("synd").article("a1") == "synd:article:a1"``."""

    prefix: str

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- ingestion -------------------------------------------------------------------
    @property
    def inbox(self) -> str:
        """Stream any CMS can XADD events to (field ``event``)."""
        return self._k("inbox")

    @property
    def inbox_group(self) -> str:
        """Consumer group name on the inbox stream (a name, not a key)."""
        return "syndication"

    def event_seen(self, event_id: str) -> str:
        """Marker that an event was applied (expires after the event memory)."""
        return self._k("event", event_id)

    def event_status(self, event_id: str) -> str:
        """Hash: the outcome of one event (status, article, time, errors)."""
        return self._k("event-status", event_id)

    @property
    def dead_letters(self) -> str:
        """Sorted set of dead-letter ids by time rejected."""
        return self._k("dlq")

    def dead_letter(self, dl_id: str) -> str:
        """Hash: one dead letter (raw payload, errors, source, time)."""
        return self._k("dlq", dl_id)

    # --- articles ----------------------------------------------------------------------
    def article(self, article_id: str) -> str:
        """String: the article's JSON, stored once."""
        return self._k("article", article_id)

    def article_meta(self, article_id: str) -> str:
        """Hash: version, state (live/unpublished), last event."""
        return self._k("article-meta", article_id)

    def article_feeds(self, article_id: str) -> str:
        """Set: the feed ids the article is indexed in."""
        return self._k("article-feeds", article_id)

    def translations(self, story_id: str) -> str:
        """Set: the article ids of every translation of one story."""
        return self._k("story", story_id)

    @property
    def articles(self) -> str:
        """Sorted set of every live article id by publish time."""
        return self._k("articles")

    def feed_index(self, feed_id: str) -> str:
        """Sorted set: article ids in one feed by publish time (newest = highest)."""
        return self._k("feed", feed_id)

    def feed_tombstones(self, feed_id: str) -> str:
        """Sorted set: unpublished article ids by time of removal (Atom deleted-entry)."""
        return self._k("feed-deleted", feed_id)

    # --- work owed between stages (syndication.worklist) ------------------------------
    def owed(self, stage: str) -> str:
        """Sorted set: items one stage owes the next (``plan``, ``sync``, ...), by when due."""
        return self._k("owed", stage)

    def owed_generations(self, stage: str) -> str:
        """Hash: item -> how many times it was recorded (a change during the work redoes it)."""
        return self._k("owed-gen", stage)

    def owed_failures(self, stage: str) -> str:
        """Hash: item -> failures in a row (for the retry backoff; cleared when done)."""
        return self._k("owed-fail", stage)

    # --- rendering ---------------------------------------------------------------------
    @property
    def dirty_feeds(self) -> str:
        """Sorted set: feed ids that must be re-rendered, by the time they became dirty."""
        return self._k("render", "dirty")

    @property
    def render_times(self) -> str:
        """Hash: feed id -> when its last render started; ``round:<language>`` -> when the
        language's last render round started (rounds are spaced per language)."""
        return self._k("render", "last")

    def round_asked(self, language: str) -> str:
        """Set (with a short expiry) while a render round of ``language`` has been asked and
        has not claimed the language yet: the apply script sets it (so that one event of a
        burst asks the round, not each), a round's claim deletes it. The apply script derives
        it from :attr:`render_times` (``<render_times>:asked:<language>``)."""
        return f"{self.render_times}:asked:{language}"

    def render_lock(self, feed_id: str) -> str:
        """Lock held while one feed renders."""
        return self._k("render", "lock", feed_id)

    def rendered(self, feed_path: str) -> str:
        """Hash: rendered bytes, gzip bytes, ETag, Last-Modified, item count of one document."""
        return self._k("doc", feed_path)

    @property
    def rendered_index(self) -> str:
        """Sorted set of rendered document paths by last render time."""
        return self._k("docs")

    def fragment(self, article_id: str, fmt: str) -> str:
        """String: a serialised feed item of one article revision in one format."""
        return self._k("frag", fmt, article_id)

    # --- search engines (feeds.sitemaps, feeds.indexnow) --------------------------------
    @property
    def sitemap_languages(self) -> str:
        """Set: the languages that have a news sitemap (the sitemap index lists them)."""
        return self._k("sitemap", "languages")

    @property
    def indexnow_submitted(self) -> str:
        """Hash: article id -> the state and revision last accepted by IndexNow."""
        return self._k("indexnow", "submitted")

    @property
    def indexnow_hold(self) -> str:
        """String with a TTL: IndexNow asked us to wait (Retry-After); nothing is sent."""
        return self._k("indexnow", "hold")

    # --- posts -------------------------------------------------------------------------
    def post(self, post_id: str) -> str:
        """Hash: one post in the ledger."""
        return self._k("post", post_id)

    def post_history(self, post_id: str) -> str:
        """List: one post's history entries (JSON), oldest first, the newest 50 kept."""
        return self._k("post-history", post_id)

    @property
    def posts(self) -> str:
        """Sorted set of every post id by creation time."""
        return self._k("posts")

    @property
    def post_counts(self) -> str:
        """Hash: ``platform|channel|status`` -> number of posts (kept by the ledger's scripts)."""
        return self._k("post-counts")

    def article_posts(self, article_id: str) -> str:
        """Set: post ids planned for one article."""
        return self._k("article-posts", article_id)

    def delivery(self, story_id: str, channel: str) -> str:
        """Delivery key: which post carries one story to one channel (at most one)."""
        return self._k("delivery", channel, story_id)

    @property
    def reconciling(self) -> str:
        """Sorted set: uncertain posts by when their reconciliation is (re)tried."""
        return self._k("reconciling")

    @property
    def leases(self) -> str:
        """Sorted set: posts in ``sending`` by the time their sender's lease ends."""
        return self._k("leases")

    @property
    def due(self) -> str:
        """Sorted set: post ids by due time (Unix seconds)."""
        return self._k("due")

    def channel_planned(self, channel: str) -> str:
        """Sorted set: due times of posts planned or sent on one channel."""
        return self._k("channel-planned", channel)

    def channel_taken(self, channel: str) -> str:
        """Sorted set: stretches of time a channel's schedule is known to leave no room in
        (member: start, score: end, Unix seconds)."""
        return self._k("channel-taken", channel)

    def channel_taken_meta(self, channel: str) -> str:
        """Hash: the rules the taken stretches were learnt under, and a generation moved on
        by every freed instant."""
        return self._k("channel-taken-meta", channel)

    def channel_freed(self, channel: str) -> str:
        """List: due times a moved or cancelled post left on a channel, not yet forgotten in
        its taken stretches."""
        return self._k("channel-freed", channel)

    def media(self, url_digest: str) -> str:
        """Hash: a fetched lead image (bytes, type, size), by digest of its URL."""
        return self._k("media", url_digest)

    def media_for_url(self, url: str) -> str:
        """:meth:`media` of the image at ``url`` (the posts fetch it; the feeds read its size)."""
        return self.media(self.media_digest(url))

    @staticmethod
    @lru_cache(maxsize=4096)
    def media_digest(url: str) -> str:
        """The digest naming the image at ``url`` among the :meth:`media` keys."""
        return hashlib.sha256(url.encode()).hexdigest()[:32]

    def channel_lock(self, channel: str) -> str:
        """Lock held while posts are planned on one channel (spacing needs a stable view)."""
        return self._k("lock", "channel", channel)

    def channel_paused(self, channel: str) -> str:
        """Flag: the channel is paused by an operator."""
        return self._k("channel-paused", channel)

    def channel_rate(self, channel: str) -> str:
        """Hash: the rate-limit headers last seen on one channel."""
        return self._k("channel-rate", channel)

    def platform_info(self, channel: str) -> str:
        """Hash: cached facts read from the platform (e.g. Mastodon's max_characters)."""
        return self._k("platform-info", channel)

    # --- ActivityPub (syndication.federation) ---------------------------------------------
    def fed_actor_key(self, username: str) -> str:
        """Hash: an actor's RSA key pair (``private`` and ``public`` PEM); never logged."""
        return self._k("fed", "actor-key", username)

    def fed_remote_key(self, digest: str) -> str:
        """String: a remote actor's public key and inboxes (JSON), by digest of its keyId."""
        return self._k("fed", "remote-key", digest)

    def fed_followers(self, username: str) -> str:
        """Hash: follower actor id -> its inbox, shared inbox and Follow (JSON)."""
        return self._k("fed", "followers", username)

    def fed_announced(self, article_id: str) -> str:
        """Hash: actor -> what it last announced of one article (JSON: state, version, seq)."""
        return self._k("fed", "announced", article_id)

    def fed_activity(self, activity_key: str) -> str:
        """Hash: one activity we published (its JSON, actor, article, type)."""
        return self._k("fed", "activity", activity_key)

    def fed_delivery(self, delivery_id: str) -> str:
        """Hash: one activity to one inbox (status, attempts, errors); the prefix of every
        delivery when ``delivery_id`` is empty (the ledger's scripts append ids)."""
        return self._k("fed", "delivery", delivery_id)

    def fed_chain(self, username: str, article_id: str) -> str:
        """Hash: inbox -> the latest delivery of one actor's activities about one article."""
        return self._k("fed", "chain", username, article_id)

    def fed_article_deliveries(self, article_id: str) -> str:
        """Set: every delivery id of the activities about one article."""
        return self._k("fed", "article-deliveries", article_id)

    @property
    def fed_deliveries(self) -> str:
        """Sorted set: every delivery id by creation time."""
        return self._k("fed", "deliveries")

    @property
    def fed_due(self) -> str:
        """Sorted set: pending delivery ids by when they may be sent."""
        return self._k("fed", "due")

    @property
    def fed_leases(self) -> str:
        """Sorted set: deliveries being sent, by when their sender's lease ends."""
        return self._k("fed", "leases")

    @property
    def fed_counts(self) -> str:
        """Hash: delivery status -> number of deliveries (kept by the ledger's scripts)."""
        return self._k("fed", "counts")

    def fed_server(self, host: str) -> str:
        """Hash: a remote server's health (failures in a row, since when, dead until)."""
        return self._k("fed", "server", host)

    # --- Celery (kombu owns these names; we only choose their prefix) -----------------------
    @property
    def celery_prefix(self) -> str:
        """kombu's ``global_keyprefix``: every broker key of this deployment starts with it."""
        return self._k("celery", "")

    def celery_queue(self, queue: str) -> str:
        """The list kombu keeps a queue's waiting messages in."""
        return self.celery_prefix + queue

    # --- operations --------------------------------------------------------------------
    def heartbeat(self, role: str) -> str:
        """Hash: process name -> last seen time, for workers, beat and servers."""
        return self._k("heartbeat", role)

    @property
    def backfill(self) -> str:
        """Hash: file fingerprint -> lines done, so a backfill can resume."""
        return self._k("backfill")

    def lock(self, name: str) -> str:
        """A named lock (e.g. the embedded server's start, beat)."""
        return self._k("lock", name)

    def pattern(self) -> str:
        """Glob matching every key under the prefix (for cleaning a test prefix)."""
        return self._k("*")
