"""The operator's posts and channels commands, on a real ledger and a Mastodon sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from syndication.config import load_config
from syndication.events import parse_event
from syndication.posts import Posts
from syndication.posts.ledger import Ledger
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from tests.integration.test_pipeline import make_event, run_cli

TOKEN = "cli-SECRET-token-93d1"


@pytest.fixture
def sandbox() -> Iterator[MastodonSandbox]:
    with MastodonSandbox(bad_tokens=("bad-token",)) as server:
        yield server


@pytest.fixture
def poster(
    settings: Settings, store: Store, sandbox: MastodonSandbox, monkeypatch: pytest.MonkeyPatch
) -> Posts:
    monkeypatch.setenv("CLI_MASTODON_TOKEN", TOKEN)
    monkeypatch.setenv("CLI_BAD_TOKEN", "bad-token")
    (settings.config_path / "channels.yaml").write_text(
        "channels:\n"
        f"  - {{name: m-vi, platform: mastodon, language: vi, api_base_url: '{sandbox.base_url}',\n"
        "     credentials: {access_token: CLI_MASTODON_TOKEN}, max_age: 3650d,\n"
        "     schedule: {min_spacing: 0s}}\n"
        f"  - {{name: m-vi-review, platform: mastodon, language: vi,\n"
        f"     api_base_url: '{sandbox.base_url}', credentials: {{access_token: CLI_BAD_TOKEN}},\n"
        "     max_age: 3650d, schedule: {approval: true}}\n"
        "  - {name: m-en, platform: mastodon, language: en, credentials: {access_token: X_UNSET}}\n"
        "routing:\n"
        "  routes:\n"
        "    - {match: {categories: [heritage]}, channels: [m-vi, m-vi-review, m-en]}\n",
        encoding="utf-8",
    )
    return Posts(store, load_config(settings.config_path))


def _plan(store: Store, poster: Posts, n: int, **article: object) -> str:
    parsed = parse_event(make_event(n, **article))
    store.apply_event(parsed, ["vi/all"])
    poster.planner.plan(parsed.event.article, 1000.0)  # type: ignore[arg-type]
    return parsed.event.article.id


def test_posts_list_show_preview_and_explain(
    settings: Settings, store: Store, poster: Posts
) -> None:
    """Operators see each post, its text and history, and why each channel did or did not post."""
    article_id = _plan(store, poster, 1)
    _plan(store, poster, 2, category="people")
    listed = json.loads(run_cli(settings, "posts", "list", "--json").stdout)["posts"]
    assert {p["id"] for p in listed} == {f"m-vi--{article_id}", f"m-vi-review--{article_id}"}
    only = json.loads(run_cli(settings, "posts", "list", "--channel", "m-vi", "--json").stdout)
    assert [p["channel"] for p in only["posts"]] == ["m-vi"]
    shown = json.loads(run_cli(settings, "posts", "show", f"m-vi--{article_id}", "--json").stdout)
    assert shown["status"] == "planned" and shown["article_id"] == article_id
    assert shown["link"].startswith("https://portal.example/vi/") and shown["history"]
    preview = json.loads(run_cli(settings, "posts", "preview", article_id, "--json").stdout)
    assert [p["channel"] for p in preview["previews"]] == ["m-vi", "m-vi-review"]
    assert "Phố cổ Hội An" in preview["previews"][0]["text"]
    why = {
        r["channel"]: r["why"]
        for r in json.loads(run_cli(settings, "posts", "explain", article_id, "--json").stdout)[
            "channels"
        ]
    }
    assert why["m-vi"].startswith("planned, due")
    assert "awaiting approval" in why["m-vi-review"]
    assert why["m-en"].startswith("no route")
    other = json.loads(run_cli(settings, "posts", "explain", "art-00002", "--json").stdout)
    assert all(r["why"].startswith("no route") for r in other["channels"])


def test_approve_cancel_and_retry(
    settings: Settings, store: Store, poster: Posts, sandbox: MastodonSandbox
) -> None:
    """An approval releases a held post; a failed one can be retried; an open one cancelled."""
    article_id = _plan(store, poster, 3)
    held = f"m-vi-review--{article_id}"
    ledger = Ledger(store)
    assert held not in poster.dispatcher.due_now(10**10)
    assert run_cli(settings, "posts", "approve", held).exit_code == 0
    assert held in poster.dispatcher.due_now(10**10)
    assert poster.sender.deliver(held, "t", 2000.0) == "failed"  # this channel's token is refused
    assert "access token is invalid" in ledger.require(held).last_error
    assert run_cli(settings, "posts", "retry", held).exit_code == 0
    assert ledger.require(held).status.value == "planned" and held in poster.dispatcher.due_now(
        10**10
    )
    assert run_cli(settings, "posts", "cancel", held).exit_code == 0
    assert ledger.require(held).status.value == "cancelled"
    again = run_cli(settings, "posts", "cancel", held)
    assert again.exit_code == 1 and "only planned or uncertain" in again.output


def test_channels_list_pause_resume_and_check(
    settings: Settings, store: Store, poster: Posts, sandbox: MastodonSandbox
) -> None:
    """Channels can be paused and resumed; check verifies credentials and never prints them."""
    article_id = _plan(store, poster, 4)
    assert run_cli(settings, "channels", "pause", "m-vi").exit_code == 0
    assert f"m-vi--{article_id}" not in poster.dispatcher.due_now(10**10)
    listed = {
        c["name"]: c
        for c in json.loads(run_cli(settings, "channels", "list", "--json").stdout)["channels"]
    }
    assert listed["m-vi"]["paused"] is True and listed["m-vi"]["posts"] == {"planned": 1}
    assert listed["m-vi"]["credentials_from"] == ["CLI_MASTODON_TOKEN"]
    assert run_cli(settings, "channels", "resume", "m-vi").exit_code == 0
    assert f"m-vi--{article_id}" in poster.dispatcher.due_now(10**10)

    good = run_cli(settings, "channels", "check", "m-vi", "--json")
    assert good.exit_code == 0 and json.loads(good.stdout)["channels"][0]["account"]
    everything = run_cli(settings, "channels", "check", "--json")
    rows = {r["channel"]: r for r in json.loads(everything.stdout)["channels"]}
    assert everything.exit_code == 1
    assert rows["m-vi"]["ok"] and not rows["m-vi-review"]["ok"] and not rows["m-en"]["ok"]
    assert "X_UNSET" in rows["m-en"]["error"]
    assert TOKEN not in everything.output and "bad-token" not in everything.output
    assert run_cli(settings, "channels", "pause", "nope").exit_code == 1


def test_a_story_is_posted_once_per_channel_whatever_its_languages(
    settings: Settings, store: Store, sandbox: MastodonSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two translations of one story reach a multilingual channel once, unless it allows more."""
    monkeypatch.setenv("CLI_MASTODON_TOKEN", TOKEN)
    (settings.config_path / "channels.yaml").write_text(
        "channels:\n"
        f"  - {{name: once, platform: mastodon, language: vi, api_base_url: '{sandbox.base_url}',\n"
        "     credentials: {access_token: CLI_MASTODON_TOKEN}, max_age: 3650d}\n"
        f"  - {{name: each, platform: mastodon, language: vi, api_base_url: '{sandbox.base_url}',\n"
        "     credentials: {access_token: CLI_MASTODON_TOKEN}, max_age: 3650d,\n"
        "     allow_translations: true}\n"
        "routing: {routes: [{match: {}, channels: [once, each]}]}\n",
        encoding="utf-8",
    )
    poster = Posts(store, load_config(settings.config_path))
    original = parse_event(make_event(10, id="story-vi"))
    # A second Vietnamese edition of the same story (e.g. a regional rewrite).
    rewrite = parse_event(make_event(11, id="story-vi-2", translation_of="story-vi"))
    for parsed in (original, rewrite):
        store.apply_event(parsed, ["vi/all"])
    first = poster.planner.plan(original.event.article, 1000.0)  # type: ignore[arg-type]
    second = poster.planner.plan(rewrite.event.article, 1000.0)  # type: ignore[arg-type]
    assert {d.channel: d.action for d in first} == {"once": "planned", "each": "planned"}
    by_channel = {d.channel: d for d in second}
    assert by_channel["once"].action == "skipped" and "once--story-vi" in by_channel["once"].reason
    assert by_channel["each"].action == "planned"
