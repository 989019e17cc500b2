"""Hostile input through all four entries, on real Redis: Python, CLI, HTTP, the inbox stream.

Every body below is answered with field-named errors and kept as a dead letter that
``dlq list`` and ``dlq show`` can read: never a traceback, never a 5xx, never an exception
out of ``syndication.publish`` other than ``EventValidationError``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from pydantic import SecretStr
from starlette.applications import Starlette

import syndication
from feeds.catalog import feed_indexer
from syndication.cli import cli
from syndication.config import Config
from syndication.inbox import drain_inbox
from syndication.ingest import Ingestor
from syndication.server import create_app
from syndication.settings import Settings
from syndication.store import DeadLetter, Store
from tests.conftest import env_for, wait_until
from tests.integration.test_server import SECRET, call, signed
from tests.strategies import (
    Hostile,
    deep_fragment,
    hostile_base,
    hostile_bodies,
    hostile_values,
)

FEW = hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def corpus() -> list[Hostile]:
    """One body of each hostile kind, each rejected, with the field its rejection names."""
    base = json.dumps(hostile_base(), ensure_ascii=False)

    def at_width(token: str) -> bytes:
        return base.replace("1200", token).encode()

    odd_key = base.replace('"type": "article.published"', '"type": 1, "[/x]\\u001b[2J": 1')
    return [
        Hostile("deep-1000", deep_fragment(1_000).encode()),
        Hostile("deep-100000", deep_fragment(100_000).encode()),
        Hostile("deep-objects", deep_fragment(5_000, "{").encode()),
        Hostile("deep-70-in-tags", base.replace('"hoi-an"', deep_fragment(70)).encode(), "article"),
        Hostile("surrogate-id", base.replace('"evt-hostile-1"', '"\\ud800"').encode(), "id"),
        Hostile("surrogate-in-bad-event", b'{"\\udfff": "\\ud800", "type": 5}', "type"),
        Hostile("invalid-utf8", base.encode().replace(b"Ph", b"P\xff\xfe")),
        Hostile("encoded-surrogate", base.encode().replace(b"Ph", b"\xed\xa0\x80")),
        Hostile("nan", at_width("NaN"), "article.image.width"),
        Hostile("infinity", at_width("-Infinity"), "article.image.width"),
        Hostile("1e400", at_width("1e400"), "article.image.width"),
        Hostile("huge-integer", at_width("9" * 5_000), "article.image.width"),
        Hostile(
            "repeated-key", base.replace('{"id": ', '{"id": "evt-x", "id": ', 1).encode(), "id"
        ),
        Hostile("bom-not-an-object", b"\xef\xbb\xbf" + b'"evt"'),
        Hostile("string", b'"evt-hostile-1"'),
        Hostile("number", b"7"),
        Hostile("null", b"null"),
        Hostile("empty", b""),
        Hostile("blank", b" \t "),
        Hostile("truncated", base.encode()[:40]),
        Hostile("control-characters", base.replace("heritage", "heri\x01\x1b[2Jtage").encode()),
        Hostile("odd-key", odd_key.encode(), "type"),
    ]


CORPUS = corpus()


@pytest.fixture
def runner_settings(settings: Settings) -> list[str]:
    """The root options that point the CLI at this test's Redis and prefix."""
    return [
        "--redis-url",
        settings.redis_url_value or "",
        "--prefix",
        settings.prefix,
        "--config",
        str(settings.config_path),
        "--data-dir",
        str(settings.data_dir),
    ]


def run_cli(root: list[str], *args: str, input: bytes | None = None) -> Result:
    """The real CLI in-process; an exception escaping it fails the test."""
    return CliRunner().invoke(cli, [*root, *args], input=input, catch_exceptions=False)


def assert_field_named(errors: list[str], field: str) -> None:
    """Errors read ``path: message`` and one names ``field`` (or the whole event)."""
    assert errors
    assert all(": " in e and e.split(": ", 1)[0] for e in errors), errors
    assert any(e.startswith(("event: ", field)) for e in errors), errors


def assert_kept(letter: DeadLetter, body: bytes) -> None:
    """The dead letter holds the body: exactly when it was UTF-8, else escaped with a note."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        assert letter.raw == body.decode("utf-8", "backslashreplace")
        assert letter.note == "bytes that are not UTF-8 are written as \\xNN"
    else:
        assert letter.raw == text and letter.note is None
    assert letter.event_id is None or letter.event_id.startswith("evt-")


def assert_dlq_reads(root: list[str], letter: DeadLetter) -> None:
    """``dlq list`` and ``dlq show`` (table and JSON) read the letter without trouble."""
    listed = run_cli(root, "dlq", "list", "--json", "--limit", "1000")
    assert listed.exit_code == 0
    assert letter.id in {d["id"] for d in json.loads(listed.stdout)["dead_letters"]}
    assert run_cli(root, "dlq", "list").exit_code == 0
    shown = run_cli(root, "dlq", "show", letter.id)
    assert shown.exit_code == 0 and letter.id in shown.stdout
    assert "\x1b" not in shown.stdout  # a payload never drives the operator's terminal
    as_json = json.loads(run_cli(root, "dlq", "show", letter.id, "--json").stdout)
    assert as_json["raw"] == letter.raw and as_json["errors"] == list(letter.errors)


# --- Python ----------------------------------------------------------------------------------
@pytest.mark.parametrize("hostile", CORPUS, ids=[h.kind for h in CORPUS])
def test_python_publish_rejects_each_hostile_body_by_field_and_keeps_it(
    hostile: Hostile, settings: Settings, store: Store
) -> None:
    """`syndication.publish(bytes)` raises EventValidationError naming the field; a dead
    letter keeps the body."""
    with pytest.raises(syndication.EventValidationError) as caught:
        syndication.publish(hostile.body, settings=settings, retry_for=0)
    assert_field_named([str(e) for e in caught.value.errors], hostile.field)
    [letter] = store.dead_letters()
    assert letter.source == "python"
    assert_kept(letter, hostile.body)


@FEW
@given(case=hostile_values())
def test_python_publish_rejects_hostile_values_by_field(
    case: tuple[object, str], settings: Settings, store: Store
) -> None:
    """Non-JSON values, odd keys, deep and cyclic structures: a field-named error, a letter."""
    value, field = case
    before = store.count_dead_letters()
    with pytest.raises(syndication.EventValidationError) as caught:
        syndication.publish(value, settings=settings, retry_for=0)  # type: ignore[arg-type]
    assert_field_named([str(e) for e in caught.value.errors], field)
    assert store.count_dead_letters() == before + 1
    letter = store.dead_letters(offset=before, limit=1)[0]
    letter.raw.encode("utf-8")


def test_python_publish_accepts_a_bom_and_drops_lone_surrogates_from_text(
    settings: Settings, store: Store
) -> None:
    """A BOM is ignored and a lone surrogate in text is removed, and the event is queued."""
    body = json.dumps(hostile_base()).replace('"Ph', '"\\ud800Ph')
    assert syndication.publish("\ufeff" + body, settings=settings) == "evt-hostile-1"
    assert syndication.publish(b"\xef\xbb\xbf" + body.encode(), settings=settings)
    assert store.inbox_length() == 2 and store.count_dead_letters() == 0


# --- CLI -------------------------------------------------------------------------------------
@pytest.mark.parametrize("hostile", CORPUS, ids=[h.kind for h in CORPUS])
def test_cli_publish_rejects_each_hostile_body_with_exit_1_and_dlq_reads_it(
    hostile: Hostile, runner_settings: list[str], store: Store
) -> None:
    """`syndication publish -` names the field in its JSON, exits 1, and the dead letter is
    listed and shown."""
    result = run_cli(
        runner_settings, "publish", "-", "--json", "--retry-for", "0", input=hostile.body
    )
    assert result.exit_code == 1, result.output
    [row] = json.loads(result.stdout)["events"]
    assert row["status"] == "rejected"
    assert_field_named(row["errors"], hostile.field)
    letter = store.dead_letter(row["dead_letter"])
    assert letter.source == "cli:-#1"
    assert_kept(letter, hostile.body.removeprefix(b"\xef\xbb\xbf").strip() or hostile.body)
    assert_dlq_reads(runner_settings, letter)
    table = run_cli(runner_settings, "publish", "-", "--retry-for", "0", input=hostile.body)
    assert table.exit_code == 1 and "rejected" in table.stdout


def test_cli_publish_keeps_each_line_of_a_hostile_file_as_sent(
    runner_settings: list[str], store: Store, tmp_path: Path
) -> None:
    """A JSON Lines file mixing good and hostile lines queues the good ones and keeps each
    bad line exactly as written (escaped where it is not UTF-8)."""
    good = json.dumps(hostile_base(), ensure_ascii=False).encode()
    lines = [h.body for h in CORPUS if h.body.strip() and b"\n" not in h.body] + [good]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    result = run_cli(runner_settings, "publish", str(path), "--json", "--retry-for", "0")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["accepted"] == 1 and doc["rejected"] == len(lines) - 1
    assert [r["status"] for r in doc["events"]] == ["rejected"] * (len(lines) - 1) + ["queued"]
    for line, row in zip(lines[:-1], doc["events"][:-1], strict=True):
        assert_kept(store.dead_letter(row["dead_letter"]), line)
    assert store.inbox_length() == 1


def test_backfill_rejects_hostile_lines_one_by_one(
    runner_settings: list[str], store: Store, tmp_path: Path
) -> None:
    """`syndication backfill` on a file of hostile lines keeps each as a dead letter and
    applies the good one, with no traceback."""
    good = json.dumps(hostile_base(5), ensure_ascii=False).encode()
    lines = [h.body for h in CORPUS if h.body.strip()] + [good]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    result = run_cli(runner_settings, "backfill", str(path), "--json", "--rate", "100000")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["applied"], summary["rejected"]) == (1, len(lines) - 1)
    assert store.count_dead_letters() == len(lines) - 1
    for letter in store.dead_letters(limit=1000):
        assert letter.errors and all(": " in e for e in letter.errors)


def test_cli_publish_via_celery_rejects_and_keeps_the_same_way(
    runner_settings: list[str], store: Store
) -> None:
    """`--via celery` shares the path: the hostile event is kept, the valid one is sent."""
    body = b"\n".join([CORPUS[0].body, json.dumps(hostile_base(9)).encode()])
    result = run_cli(runner_settings, "publish", "-", "--json", "--via", "celery", input=body)
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)["events"]
    assert [r["status"] for r in rows] == ["rejected", "queued"]
    assert store.count_dead_letters() == 1 and store.inbox_length() == 0


def test_cli_publish_of_an_empty_array_is_an_empty_batch(runner_settings: list[str]) -> None:
    """An array is a batch of events: an empty one publishes nothing and is no error."""
    result = run_cli(runner_settings, "publish", "-", "--json", input=b"[]")
    assert result.exit_code == 0 and json.loads(result.stdout)["events"] == []


def test_cli_publish_subprocess_reads_raw_bytes_without_a_traceback(settings: Settings) -> None:
    """The installed command, fed invalid UTF-8, a BOM and 100,000 levels on stdin, answers
    with field-named rows and exit 1, and nothing on stderr looks like a crash."""
    body = b"\xef\xbb\xbf" + b"\n".join(
        [b'{"id": "\xff"}', deep_fragment(100_000).encode(), b'{"id": NaN}']
    )
    proc = subprocess.run(
        [sys.executable, "-m", "syndication", "publish", "-", "--json", "--retry-for", "0"],
        input=body,
        env=env_for(settings),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert b"Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)["events"]
    assert [r["errors"][0] for r in rows] == [
        "event: not valid UTF-8 (byte 0xff at offset 8)",
        "event: nested deeper than 64 levels",
        "id: NaN is not a JSON number",
    ]


# --- HTTP ------------------------------------------------------------------------------------
@pytest.fixture
def http_app(settings: Settings, config: Config, store: Store) -> Starlette:
    """`syndication serve`'s app with a webhook secret, on this test's Redis and inbox."""
    signed_settings = settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    return create_app(signed_settings, config, store=store, freshness_ttl=0)


def post(app: Starlette, body: bytes) -> Any:
    """A signed POST /events."""
    return call(app, "POST", "/events", content=body, headers=signed(body))


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.kind for h in CORPUS])
def test_http_answers_each_hostile_body_with_422_and_keeps_it(
    hostile: Hostile, http_app: Starlette, store: Store
) -> None:
    """POST /events answers 422 with field-named errors and the dead letter's id."""
    response = post(http_app, hostile.body)
    assert response.status_code == 422, response.text
    doc = response.json()
    assert_field_named(doc["errors"], hostile.field)
    letter = store.dead_letter(doc["dead_letter"])
    assert letter.source == "http"
    assert_kept(letter, hostile.body)


@FEW
@given(hostile=hostile_bodies())
def test_http_never_answers_5xx_to_hostile_bodies(
    hostile: Hostile, http_app: Starlette, store: Store
) -> None:
    """Generated hostile bodies get 202 or 422 with field-named errors, and a dead letter."""
    response = post(http_app, hostile.body)
    if response.status_code == 202:
        assert not hostile.rejected
        return
    assert response.status_code == 422, response.text
    assert_field_named(response.json()["errors"], hostile.field)
    assert_kept(store.dead_letter(response.json()["dead_letter"]), hostile.body)


# --- the inbox stream ------------------------------------------------------------------------
@pytest.fixture
def ingestor(store: Store, config: Config, settings: Settings) -> Iterator[Ingestor]:
    """What a worker's drain uses, in-process (the same function, without Celery)."""
    store.ensure_inbox_group()
    yield Ingestor(store, feed_indexer(config.feeds), settings.limits)


@FEW
@given(hostile=hostile_bodies())
def test_inbox_drain_dead_letters_generated_hostile_entries(
    hostile: Hostile, ingestor: Ingestor, store: Store
) -> None:
    """A hostile XADD is applied or dead-lettered by the drain; the batch never aborts."""
    store.r.xadd(store.keys.inbox, {"event": hostile.body})
    report = drain_inbox(ingestor, "hostile-test", min_idle_ms=0)
    [outcome] = report.outcomes
    assert store.inbox_length() == 0
    if outcome.status == "rejected":
        assert_field_named(list(outcome.errors), hostile.field)
        assert outcome.dead_letter is not None
        assert_kept(store.dead_letter(outcome.dead_letter), hostile.body)
    else:
        assert not hostile.rejected


def test_a_real_worker_dead_letters_every_hostile_xadd(
    settings: Settings, store: Store, worker_factory, runner_settings: list[str]
) -> None:
    """Plain XADDs of every hostile body (and entries without a usable ``event`` field) are
    dead-lettered by a real worker, next to a valid event that is applied."""
    good = b"\xef\xbb\xbf" + json.dumps(hostile_base(7)).encode()
    for hostile in CORPUS:
        store.r.xadd(store.keys.inbox, {"event": hostile.body})
    store.r.xadd(store.keys.inbox, {b"\xff\xfe": b"\xff", b"payload": b"x"})
    store.r.xadd(store.keys.inbox, {"event": good})
    worker = worker_factory(settings, "-c", "1", "--beat")
    total = len(CORPUS) + 1
    wait_until(lambda: store.count_dead_letters() == total, timeout=60, message="dead letters")
    wait_until(lambda: store.event_state("evt-hostile-7") == "applied", message="good applied")
    wait_until(lambda: store.inbox_length() == 0, message="inbox emptied")
    letters = store.dead_letters(limit=1000)
    by_raw = {letter.raw: letter for letter in letters}
    for hostile in CORPUS:
        try:
            raw = hostile.body.decode("utf-8")
        except UnicodeDecodeError:
            raw = hostile.body.decode("utf-8", "backslashreplace")
        letter = by_raw[raw]
        assert letter.source == "inbox"
        assert_field_named(list(letter.errors), hostile.field)
        assert_kept(letter, hostile.body)
    [no_event] = [d for d in letters if d.source.startswith("inbox:")]
    assert no_event.errors[0].startswith("event: required")
    for letter in letters:
        assert_dlq_reads(runner_settings, letter)
    replayed = run_cli(runner_settings, "dlq", "replay", "--all", "--json")
    assert replayed.exit_code == 1  # each is still invalid, and stays as it was
    assert json.loads(replayed.stdout)["invalid"] == total
    assert store.count_dead_letters() == total
    assert "Traceback" not in worker.output()
