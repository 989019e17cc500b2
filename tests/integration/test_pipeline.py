"""The event pipeline end to end: real Redis, real Celery workers, the three entry points."""

from __future__ import annotations

import copy
import json
import os
import signal
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

import syndication
from feeds.catalog import feed_indexer
from syndication.cli import cli
from syndication.config import Config
from syndication.inbox import drain_inbox
from syndication.ingest import Ingestor
from syndication.keys import Keys
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import load_samples, wait_until
from tests.unit.test_events import EVENT
from workers.app import create_app


def run_cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None, input: str | None = None
):
    """Invoke the real CLI in-process against the test's Redis and prefix."""
    base = [
        "--redis-url",
        settings.redis_url_value or "",
        "--prefix",
        settings.prefix,
        "--config",
        str(settings.config_path),
        "--data-dir",
        str(settings.data_dir),
    ]
    return CliRunner().invoke(cli, [*base, *args], env=env, input=input, catch_exceptions=False)


def make_event(n: int, **article: object) -> dict[str, object]:
    doc = copy.deepcopy(EVENT)
    doc["id"] = f"evt-{n:05d}"
    doc["article"]["id"] = f"art-{n:05d}"  # type: ignore[index]
    doc["article"].update(article)  # type: ignore[union-attr]
    return doc


def test_cli_publish_wait_applies_the_samples(
    settings: Settings, store: Store, worker_factory
) -> None:
    """`syndication publish FILE --wait` returns once the worker applied every sample."""
    worker_factory(settings, "-c", "1")
    result = run_cli(
        settings, "publish", str(Path("config/samples/events.jsonl").resolve()), "--wait", "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    samples = load_samples()
    assert doc["accepted"] == len(samples) and doc["rejected"] == 0
    assert {e["status"] for e in doc["events"]} == {"applied"}
    articles = {e["article"]["id"] for e in samples}  # type: ignore[index]
    assert store.count_articles() == len(articles)
    updated = store.get_article("coffee-export-2002-en")
    assert updated is not None and updated.title == "Coffee exports hit a record high"
    assert store.translations("hue-citadel-2001-vi") == [
        "hue-citadel-2001-en",
        "hue-citadel-2001-ja",
        "hue-citadel-2001-vi",
    ]
    assert "vi/category/heritage" in store.known_feeds()


def test_cli_publish_rejects_invalid_events_with_exit_1(settings: Settings, store: Store) -> None:
    """Invalid events are refused at the edge, named by field, kept as dead letters; exit 1."""
    lines = [json.dumps(make_event(1)), json.dumps(make_event(2, url="not a url")), "{broken json"]
    result = run_cli(settings, "publish", "-", "--json", input="\n".join(lines))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [e["status"] for e in doc["events"]] == ["queued", "rejected", "rejected"]
    assert doc["events"][1]["errors"] == ["article.url: not an absolute http(s) URL"]
    assert doc["events"][2]["errors"] == [
        "event: not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))"
    ]
    assert store.count_dead_letters() == 2


def test_cli_publish_accepts_a_single_object_and_an_array(settings: Settings, store: Store) -> None:
    """A JSON object and a JSON array are read as one and as many events."""
    one = run_cli(
        settings, "publish", "-", "--json", "--via", "inbox", input=json.dumps(make_event(1))
    )
    many = run_cli(
        settings,
        "publish",
        "-",
        "--json",
        "--via",
        "inbox",
        input=json.dumps([make_event(2), make_event(3)]),
    )
    assert json.loads(one.stdout)["accepted"] == 1
    assert json.loads(many.stdout)["accepted"] == 2
    assert store.inbox_length() == 3


def test_python_publish_reaches_the_worker(
    settings: Settings, store: Store, worker_factory
) -> None:
    """`syndication.publish(event)` from Python is applied by a worker (via the inbox)."""
    worker_factory(settings, "-c", "1", "--beat")
    event_id = syndication.publish(make_event(7, title="Từ Python"), settings=settings)
    wait_until(lambda: store.event_state(event_id) == "applied", message="python publish applied")
    article = store.get_article("art-00007")
    assert article is not None and article.title == "Từ Python"


def test_python_publish_raises_on_invalid_and_keeps_a_dead_letter(
    settings: Settings, store: Store
) -> None:
    """An invalid event raises a field-named error in Python and is not lost."""
    with pytest.raises(syndication.EventValidationError, match=r"article\.language"):
        syndication.publish(make_event(8, language="en_GB"), settings=settings)
    assert store.count_dead_letters() == 1


def test_plain_xadd_from_any_language_is_applied(
    settings: Settings, store: Store, worker_factory
) -> None:
    """One raw XADD, as a PHP or Node CMS would send it, is applied; a malformed entry is kept."""
    worker_factory(settings, "-c", "1", "--beat")
    store.r.execute_command(
        "XADD", store.keys.inbox, "*", "event", json.dumps(make_event(9), ensure_ascii=False)
    )
    store.r.execute_command("XADD", store.keys.inbox, "*", "payload", "oops")
    wait_until(lambda: store.event_state("evt-00009") == "applied", message="xadd applied")
    wait_until(lambda: store.count_dead_letters() == 1, message="malformed entry dead-lettered")
    [letter] = store.dead_letters()
    assert letter.errors[0].startswith("event: required")
    wait_until(lambda: store.inbox_length() == 0, message="inbox emptied")


def test_inbox_entries_of_a_crashed_consumer_are_claimed_back(store: Store, config: Config) -> None:
    """Entries a consumer read but never acknowledged are applied by another one later."""
    store.ensure_inbox_group()
    for n in range(5):
        store.inbox_add(json.dumps(make_event(n)))
    taken = store.inbox_read("crashed-consumer", count=10)
    assert len(taken) == 5 and store.inbox_pending() == 5
    ingestor = Ingestor(store, feed_indexer(config.feeds), Settings().limits)
    report = drain_inbox(ingestor, "healthy-consumer", min_idle_ms=0)
    assert report.entries == 5
    assert [o.status for o in report.outcomes] == ["applied"] * 5
    assert store.inbox_pending() == 0 and store.inbox_length() == 0


def test_worker_validates_again_when_the_edge_is_bypassed(
    settings: Settings, store: Store, worker_factory
) -> None:
    """An invalid event sent straight to the ingest task is rejected by the worker and kept."""
    worker_factory(settings, "-c", "1")
    app = create_app(settings)
    app.send_task(
        "syndication.ingest", (make_event(3, language="??"),), kwargs={"source": "direct"}
    )
    wait_until(lambda: store.count_dead_letters() == 1, message="worker dead-letters")
    [letter] = store.dead_letters()
    assert letter.source == "direct" and letter.event_id == "evt-00003"
    assert letter.errors == ("article.language: not a valid BCP 47 language tag",)
    assert store.event_state("evt-00003") == "rejected"


def test_dead_letters_can_be_listed_shown_replayed_and_dropped(
    settings: Settings, store: Store, worker_factory
) -> None:
    """An event rejected under tight limits is replayed once the limits are raised."""
    tight = {"SYNDICATION_LIMITS__TITLE": "5"}
    result = run_cli(
        settings, "publish", "-", input=json.dumps(make_event(1, title="Quá dài rồi")), env=tight
    )
    assert result.exit_code == 1
    run_cli(settings, "publish", "-", input=json.dumps({"id": "x", "type": "nope"}))
    listed = json.loads(run_cli(settings, "dlq", "list", "--json").stdout)
    assert listed["total"] == 2
    long_title, nope = listed["dead_letters"]
    assert long_title["errors"] == ["article.title: too long: 11 characters, at most 5"]
    shown = run_cli(settings, "dlq", "show", nope["id"])
    assert "type: unknown event type 'nope'" in shown.stdout

    still_bad = run_cli(settings, "dlq", "replay", nope["id"], "--json")
    assert still_bad.exit_code == 1
    assert store.dead_letter(nope["id"]).replays == 1

    worker_factory(settings, "-c", "1")
    replayed = run_cli(settings, "dlq", "replay", long_title["id"], "--json")
    assert replayed.exit_code == 0 and json.loads(replayed.stdout)["queued"] == 1
    wait_until(
        lambda: store.event_state("evt-00001") == "applied", message="replayed event applied"
    )

    assert run_cli(settings, "dlq", "drop", nope["id"]).exit_code == 0
    assert store.count_dead_letters() == 0


def _child_pids(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def _pool_pids(pid: int) -> list[int]:
    """The pool processes of a supervised worker: children of its Celery process."""
    return [pool for celery in _child_pids(pid) for pool in _child_pids(celery)]


def applied(store: Store, total: int) -> int:
    states = store.event_states([f"evt-{n:05d}" for n in range(total)])
    return sum(1 for s in states if s == "applied")


def each_applied_once(store: Store, total: int) -> None:
    for n in range(total):
        state = store.article_state(f"art-{n:05d}")
        assert state is not None and state.applied == 1, (n, state)


def test_worker_process_killed_mid_task_is_replaced_and_each_event_applied_once(
    settings: Settings, store: Store, worker_factory
) -> None:
    """SIGKILL of the pool process running an ingest task: the task comes back at once
    (reject_on_worker_lost) and every event is applied exactly once."""
    app = create_app(settings)
    total = 200
    for n in range(total):
        app.send_task("syndication.ingest", (make_event(n),))
    worker = worker_factory(settings, "-c", "1", "-Q", "ingest")
    assert worker.proc is not None
    wait_until(lambda: applied(store, total) >= 20, message="some events applied")
    kills = 0
    for _ in range(3):  # kill the pool process a few times while it works
        children = _pool_pids(worker.proc.pid)
        if children and applied(store, total) < total:
            os.kill(children[0], signal.SIGKILL)
            kills += 1
            wait_until(
                lambda c=children: _pool_pids(worker.proc.pid) not in ([], c),  # type: ignore[union-attr]
                message="pool process replaced",
            )
    assert kills >= 1, "the worker finished before it could be killed"
    wait_until(lambda: applied(store, total) == total, timeout=90, message="every event applied")
    each_applied_once(store, total)


def test_worker_killed_mid_drain_leaves_nothing_behind_and_applies_each_event_once(
    redis_url: str, prefix: str, tmp_path: Path, config_dir: Path, worker_factory
) -> None:
    """SIGKILL of a whole worker while it drains the inbox: the entries it held are claimed
    back by the next worker, and every event is applied exactly once."""
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        data_dir=tmp_path / "data",
        config_path=config_dir,
        inbox_batch=5,
        inbox_claim_after=2.0,
    )
    store = Store(redis.Redis.from_url(redis_url), Keys(prefix))
    store.ensure_inbox_group()
    total = 1500
    pipe = store.r.pipeline(transaction=False)
    for n in range(total):
        pipe.xadd(store.keys.inbox, {"event": json.dumps(make_event(n))})
    pipe.execute()
    caught = 0
    for _attempt in range(6):
        # Kill while a batch is read but not yet acknowledged (pending), as a crash would.
        worker = worker_factory(settings, "-c", "1", "--beat")
        start = applied(store, total)
        wait_until(
            lambda s=start: applied(store, total) > s + 50 or store.inbox_length() == 0,
            timeout=30,
            message="the worker draining",
        )
        worker.kill()
        if store.inbox_pending() > 0:
            caught += 1
            break
    assert caught, "never caught a worker holding unacknowledged entries"
    assert applied(store, total) < total
    worker_factory(settings, "-c", "1", "--beat")
    wait_until(lambda: applied(store, total) == total, timeout=90, message="every event applied")
    wait_until(
        lambda: store.inbox_pending() == 0 and store.inbox_length() == 0, message="inbox emptied"
    )
    each_applied_once(store, total)
