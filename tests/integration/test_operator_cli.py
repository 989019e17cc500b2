"""The CLI as an operator meets it: version, tables that fit (or tab-separated rows when
piped), times in a chosen zone, reads that never start an embedded Redis, a status that says
what it reads, a config check that finds everything, and an export that mirrors."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from feeds.catalog import FeedRef, feed_indexer
from feeds.storage import FeedStorage
from syndication.cli import cli
from syndication.config import load_config
from syndication.embedded import is_running
from syndication.events import parse_event
from syndication.ingest import feed_ids_for
from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import ROOT, env_for
from tests.integration.test_pipeline import make_event, run_cli


def _publish(store: Store, settings: Settings, *events: dict[str, object]) -> None:
    config = load_config(settings.config_path)
    storage = FeedStorage(store)
    for event in events:
        parsed = parse_event(event)
        feeds = feed_ids_for(parsed, feed_indexer(config.feeds))
        store.apply_event(parsed, feeds)
        for feed_id in feeds:
            storage.render(FeedRef.from_id(feed_id), config.feeds)


def _post(n: int, now: float) -> Post:
    return Post(
        id=f"mastodon-vi-with-a-rather-long-channel-name--art-{n:05d}-vi",
        channel="mastodon-vi-with-a-rather-long-channel-name",
        platform="mastodon",
        article_id=f"art-{n:05d}",
        story_id=f"art-{n:05d}",
        status=PostStatus.PLANNED,
        text="Phố cổ Hội An\n\nhttps://portal.example/vi/heritage/hoi-an",
        link="https://portal.example/vi/heritage/hoi-an",
        language="vi",
        idempotency_key=f"k{n}",
        due_at=1_800_000_000.0,
        created_at=now,
        updated_at=now,
    )


def test_version_is_printed() -> None:
    """`syndication --version` names the installed version."""
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("syndication, version ")


def test_piped_tables_are_tab_separated_rows_with_times_in_the_chosen_zone(
    settings: Settings, store: Store
) -> None:
    """Off a terminal a table is one header and one tab-separated line per row, cells whole,
    and times are ISO 8601 in the --tz zone."""
    Ledger(store).create(_post(1, time.time()), enqueue=True)
    result = run_cli(settings, "--tz", "Asia/Tokyo", "posts", "list")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split("\t") == ["id", "status", "due", "attempts", "remote", "last error"]
    cells = row.split("\t")
    assert cells[0] == "mastodon-vi-with-a-rather-long-channel-name--art-00001-vi"
    assert cells[2] == "2027-01-15T17:00:00+09:00"
    utc = run_cli(settings, "posts", "list", "--tz", "UTC", "--json")
    assert json.loads(utc.stdout)["posts"][0]["due_at"] == "2027-01-15T08:00:00+00:00"


def test_tables_on_a_terminal_fit_its_width_unless_wide(settings: Settings, store: Store) -> None:
    """On an 80-column terminal every line fits and long ids end in an ellipsis; --wide
    shows them whole."""
    Ledger(store).create(_post(1, time.time()), enqueue=True)

    def on_terminal(*args: str) -> str:
        env = {**env_for(settings), "COLUMNS": "80", "LINES": "40", "TERM": "xterm"}
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syndication",
                "--redis-url",
                settings.redis_url_value or "",
                "posts",
                "list",
                *args,
            ],
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
        os.close(leader)
        return b"".join(chunks).decode()

    cut = re.sub(r"\x1b\[[0-9;]*m", "", on_terminal())  # colours are not columns
    lines = [line for line in cut.splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), cut
    assert "…" in cut and "art-00001-vi" not in cut and "planned" in cut
    wide = on_terminal("--wide")
    assert "art-00001-vi" in wide.replace("\r\n", "\n").replace("│\n│", "")


def test_posts_show_is_readable_with_each_history_entry_s_status(
    settings: Settings, store: Store
) -> None:
    """`posts show` prints fields, the text and a history where an edit keeps the status
    it happened in; --json has the same with ISO 8601 times."""
    ledger = Ledger(store)
    post = _post(2, 1_800_000_000.0)
    ledger.create(post, enqueue=True)
    ledger.update(post.id, 1_800_000_100.0, "text re-rendered", text="Phố cổ Hội An (mới)")
    shown = run_cli(settings, "--tz", "UTC", "posts", "show", post.id)
    assert shown.exit_code == 0, shown.output
    assert "status" in shown.stdout and "Phố cổ Hội An (mới)" in shown.stdout
    history = shown.stdout.split("history:", 1)[1].strip().splitlines()
    assert history[-1].split()[:2] == ["2027-01-15T08:01:40+00:00", "planned"]
    doc = json.loads(run_cli(settings, "--tz", "UTC", "posts", "show", post.id, "--json").stdout)
    assert [h["status"] for h in doc["history"]] == ["planned", "planned"]
    assert doc["history"][1]["at"] == "2027-01-15T08:01:40+00:00"


def test_commands_that_only_read_never_start_the_embedded_redis(tmp_path: Path) -> None:
    """With no REDIS_URL and no embedded Redis running, reading commands say it is not
    running and exit 1, and none is started."""
    data = tmp_path / "data"
    runner = CliRunner()
    for args in (
        ["status"],
        ["posts", "list"],
        ["feeds", "list"],
        ["dlq", "list"],
        ["articles", "list"],
    ):
        result = runner.invoke(cli, ["--data-dir", str(data), *args], env={"REDIS_URL": None})
        assert result.exit_code == 1, (args, result.output)
        assert "is not running" in result.output
    assert not is_running(data)


def test_status_says_what_it_reads_and_where_else_data_lives(
    settings: Settings, store: Store, redis_url: str
) -> None:
    """Status JSON is typed and names the Redis, prefix and config; under an empty prefix it
    lists the prefixes that hold articles."""
    _publish(store, settings, make_event(1))
    mine = json.loads(run_cli(settings, "status", "--json").stdout)
    assert mine["reading"]["prefix"] == settings.prefix and mine["articles"] == 1
    assert isinstance(mine["redis"]["aof_enabled"], bool)
    assert isinstance(mine["owed"]["plan"]["owed"], int)
    assert mine["other_prefixes"] == {}
    empty = settings.model_copy(update={"prefix": settings.prefix + "-empty"})
    other = json.loads(run_cli(empty, "status", "--json").stdout)
    assert other["other_prefixes"][settings.prefix] == 1
    assert settings.prefix in other["warnings"][0]
    screen = run_cli(empty, "status").stdout
    assert (
        f"prefix {settings.prefix}-empty" in screen and settings.prefix + " (1 articles)" in screen
    )


BROKEN = """\
channels:
  - name: m-vi
    platform: mastodon
    language: vi
    template: "{{ title | shout }} {{ url }}"
  - name: x-en
    platform: x
    language: en
    schedule: {timezone: Europe/Berln}
    colour: blue
  - name: t-ja
    platform: telegram
    language: ja
    template: "{{ titel }}"
routing:
  routes:
    - match: {languages: [vi]}
      channels: [m-vi, nobody]
"""


def test_config_check_reports_every_problem_with_file_line_and_path(tmp_path: Path) -> None:
    """A broken folder gives every problem at once (unknown filter, bad zone, unknown field,
    undefined name, unknown channel, invalid YAML in another file), each with its line."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "channels.yaml").write_text(BROKEN, encoding="utf-8")
    (folder / "feeds.yaml").write_text("feeds:\n  max_items: [1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(folder), "config", "check"])
    assert result.exit_code == 1
    channels, feeds = folder / "channels.yaml", folder / "feeds.yaml"
    for expected in (
        f"{channels}:5: channels[0].template: line 1: No filter named 'shout'.",
        f"{channels}:9: channels[1].schedule.timezone: unknown time zone 'Europe/Berln'",
        f"{channels}:10: channels[1].colour: unknown field",
        f"{channels}:14: channels[2].template: 'titel' is undefined",
        f"{channels}:18: routing.routes[0].channels[1]: unknown channel 'nobody'",
        f"{feeds}:3: not valid YAML:",
    ):
        assert expected in result.output, result.output
    assert "<unicode string>" not in result.output
    missing = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope"), "config", "check"])
    assert missing.exit_code == 1 and "no such folder" in missing.output


def test_config_check_shows_each_template_fitted_on_a_sample_article(tmp_path: Path) -> None:
    """Each channel's template is rendered for a sample in its language and fitted; the JSON
    gives the fitted length against the platform's limit."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "channels.yaml").write_text(
        "channels:\n"
        "  - {name: x-ja, platform: x, language: ja}\n"
        "  - {name: m-vi, platform: mastodon, language: vi, template: '{{ title }} {{ url }}'}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(folder), "config", "check", "--json"])
    assert result.exit_code == 0, result.output
    trials = {t["channel"]: t for t in json.loads(result.stdout)["templates"]}
    assert trials["x-ja"]["limit"] == 280 and 0 < trials["x-ja"]["length"] <= 280
    assert "ホイアン" in trials["x-ja"]["text"]
    assert trials["m-vi"]["text"].startswith("Hội An: phố cổ")
    assert trials["m-vi"]["length"] == trials["m-vi"]["rendered_length"]


def test_feeds_export_mirrors_the_current_documents_with_the_index(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """Export writes every document and index.opml, removes document files of feeds that
    are gone, and leaves other files alone."""
    _publish(store, settings, make_event(1))
    out = tmp_path / "export"
    stale = out / "feeds" / "vi" / "category" / "gone.rss"
    stale.parent.mkdir(parents=True)
    stale.write_text("<rss/>", encoding="utf-8")
    (out / "robots.txt").write_text("keep me", encoding="utf-8")
    result = run_cli(settings, "feeds", "export", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "feeds" / "index.opml").is_file()
    assert (out / "feeds" / "vi" / "all.rss").is_file()
    assert (out / "feed.xsl").read_bytes().startswith(b"<?xml")  # the feeds' stylesheet
    assert not stale.exists() and (out / "robots.txt").read_text() == "keep me"
    assert "removed 1 old file(s)" in result.output
