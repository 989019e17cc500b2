"""``syndication story``: every place a story reached, and a verdict after its retraction."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from feeds.catalog import FeedRef, feed_indexer
from feeds.storage import FeedStorage
from syndication.cli import cli
from syndication.config import load_config
from syndication.ingest import Ingestor
from syndication.posts import Posts
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from syndication.views.story import story_report
from tests.integration.test_posts import (
    MASTODON_ENV,
    article_event,
    mastodon_channel,
    unpublish_event,
    write_config,
)
from tests.sandbox_values import MASTODON_TOKEN


def _render_all(store: Store, settings: Settings) -> None:
    config = load_config(settings.config_path).feeds
    storage = FeedStorage(store)
    for feed_id in store.dirty_feeds():
        storage.render(FeedRef.from_id(feed_id), config)
        store.claim_dirty(feed_id)


def _story(settings: Settings, article_id: str) -> tuple[int, dict[str, object]]:
    env = {
        "REDIS_URL": settings.redis_url_value or "",
        "SYNDICATION_PREFIX": settings.prefix,
        "SYNDICATION_CONFIG_PATH": str(settings.config_path),
        "SYNDICATION_DATA_DIR": str(settings.data_dir),
    }
    result = CliRunner().invoke(cli, ["story", article_id, "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def test_story_shows_every_place_and_proves_a_retraction_reached_them(
    settings: Settings, store: Store, config_dir: Path, monkeypatch
) -> None:
    """A story in its feeds and on Mastodon is "reached"; after its retraction every place
    says so and the verdict is "removed from N of N places" (exit 0), while a step still
    pending is named (exit 1)."""
    monkeypatch.setenv(MASTODON_ENV["access_token"], MASTODON_TOKEN)
    with MastodonSandbox() as sandbox:
        config = write_config(
            config_dir,
            [mastodon_channel("m-vi", sandbox.base_url, delete_on_unpublish=True)],
        )
        posts = Posts(store, config)
        ingest = Ingestor(store, feed_indexer(config.feeds), settings.limits, owe=("plan",))
        assert ingest.ingest(article_event("e1", "a1"), source="test").status == "applied"
        posts.planner.run()
        assert posts.sender.deliver("m-vi--a1", "w", 0.0 + 10**10) == "sent"
        _render_all(store, settings)

        report = story_report(store, config, "a1")
        kinds = {p.kind for p in report.places}
        assert kinds == {"feed", "post"} and all(p.settled for p in report.places)
        assert report.verdict.startswith("reached ") and "pending" not in report.verdict
        code, doc = _story(settings, "a1")
        assert code == 0 and doc["state"] == "live"

        ingest.ingest(unpublish_event("e2", "a1"), source="test")
        posts.planner.run()
        _render_all(store, settings)
        pending = story_report(store, config, "a1")
        assert pending.retracted
        assert [p.state for p in pending.places if p.kind == "post"] == ["sent; delete pending"]
        code, doc = _story(settings, "a1")
        assert code == 1 and "pending: post m-vi" in str(doc["verdict"])

        posts.syncer.run()
        done = story_report(store, config, "a1")
        n = len(done.places)
        assert done.verdict == f"removed from {n} of {n} places"
        assert all(p.state in ("removed", "deleted") for p in done.places)
        assert sandbox.live_posts() == []
        code, doc = _story(settings, "a1")
        assert code == 0 and doc["verdict"] == done.verdict


def test_story_of_an_unknown_article_says_so(settings: Settings, store: Store) -> None:
    """An id the store never saw gets a verdict naming it and exit 1."""
    store.ensure_inbox_group()  # the Redis is reachable and empty under this prefix
    code, doc = _story(settings, "nope")
    assert code == 1 and doc["verdict"] == "no article 'nope' is known"
