"""Operator commands: status on an empty and a busy system, backfill that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from syndication.config import load_config
from syndication.ops import Ops
from syndication.posts import Posts
from syndication.posts.ledger import Ledger
from syndication.settings import Settings
from syndication.store import Store
from syndication.worklist import WorkList
from tests.conftest import env_for, wait_until
from tests.integration.test_pipeline import make_event, run_cli


def test_status_on_an_empty_system_warns_that_nothing_runs(
    settings: Settings, store: Store
) -> None:
    """With no worker and no beat, status says so and reports empty queues."""
    result = run_cli(settings, "status", "--json")
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)
    assert snap["queues"] == {
        "ingest": 0,
        "render": 0,
        "deliver": 0,
        "inbox": 0,
        "inbox_pending": 0,
        "dirty_feeds": 0,
    }
    assert snap["articles"] == 0 and snap["dead_letters"] == 0
    assert any("no worker seen" in w for w in snap["warnings"])
    assert any("no beat seen" in w for w in snap["warnings"])


def test_status_on_a_busy_system_counts_queues_feeds_and_dead_letters(
    settings: Settings, store: Store, worker_factory
) -> None:
    """Queued work, rendered feeds, live workers and dead letters all show up."""
    run_cli(
        settings,
        "publish",
        "-",
        "--via",
        "inbox",
        input="\n".join(json.dumps(make_event(n)) for n in range(3)),
    )
    run_cli(settings, "publish", "-", input=json.dumps(make_event(9, url="nope")))
    busy = json.loads(run_cli(settings, "status", "--json").stdout)
    assert busy["queues"]["inbox"] == 3 and busy["dead_letters"] == 1
    worker_factory(settings, "-c", "1", "--beat")
    wait_until(
        lambda: (
            store.count_articles() == 3
            and not store.dirty_feeds()
            and Ops(store).heartbeats("worker")
            and Ops(store).heartbeats("beat")
        ),
        message="worker ran",
    )
    done = json.loads(run_cli(settings, "status", "--json").stdout)
    assert done["articles"] == 3 and done["queues"]["inbox"] == 0
    assert done["feeds"]["documents"] > 0
    assert done["workers_seen_seconds_ago"] and done["beat_seen_seconds_ago"]
    assert not any("no worker" in w for w in done["warnings"])
    table = run_cli(settings, "status")
    assert "queues" in table.stdout and "dead letters" in table.stdout


def test_backfill_resumes_after_an_interruption_and_applies_each_event_once(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """A backfill killed midway continues from its saved position; nothing is applied twice."""
    total = 300
    path = tmp_path / "history.jsonl"
    path.write_text(
        "\n".join(json.dumps(make_event(n)) for n in range(total)) + "\n", encoding="utf-8"
    )
    cmd = [
        sys.executable,
        "-m",
        "syndication",
        "backfill",
        str(path),
        "--rate",
        "200",
        "--batch",
        "20",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_until(lambda: store.count_articles() >= 60, message="backfill under way")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    partial = store.count_articles()
    assert partial < total

    result = run_cli(settings, "backfill", str(path), "--json", "--batch", "50", "--rate", "10000")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["resumed_at"] > 0
    assert store.count_articles() == total
    for n in range(total):
        state = store.article_state(f"art-{n:05d}")
        assert state is not None and state.applied == 1


def test_backfill_does_not_post_old_articles_unless_asked(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """Without --post, a backfill plans no social posts even when channels would match."""
    (settings.config_path / "channels.yaml").write_text(
        "channels:\n  - {name: m-vi, platform: mastodon, language: vi, max_age: 3650d,\n"
        "     credentials: {access_token: NOT_SET_ANYWHERE}}\n"
        "routing: {routes: [{match: {}, channels: [m-vi]}]}\n",
        encoding="utf-8",
    )
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(make_event(1)) + "\n", encoding="utf-8")
    assert run_cli(settings, "backfill", str(path)).exit_code == 0
    assert Ledger(store).all_ids() == []
    path.write_text(json.dumps(make_event(2)) + "\n", encoding="utf-8")
    assert run_cli(settings, "backfill", str(path), "--post").exit_code == 0
    # With --post each applied event owes a plan; a worker's planner carries it out.
    assert WorkList(store, "plan").size() == 1
    Posts(store, load_config(settings.config_path)).planner.run()
    assert len(Ledger(store).all_ids()) == 1 and WorkList(store, "plan").size() == 0
