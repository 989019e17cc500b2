"""The store on real Redis: idempotency, ordering, unpublish, translations, dead letters."""

from __future__ import annotations

import copy

import pytest
import redis

from syndication.connection import ScriptStream
from syndication.events import parse_event
from syndication.store import Store
from tests.unit.test_events import EVENT


def published(event_id: str = "e1", article_id: str = "a1", **article: object) -> dict[str, object]:
    doc = copy.deepcopy(EVENT)
    doc["id"] = event_id
    doc["article"]["id"] = article_id  # type: ignore[index]
    doc["article"].update(article)  # type: ignore[union-attr]
    return doc


def unpublished(
    event_id: str, article_id: str, at: str = "2026-11-20T12:00:00+07:00"
) -> dict[str, object]:
    return {
        "id": event_id,
        "type": "article.unpublished",
        "occurred_at": at,
        "article": {"id": article_id},
    }


def test_same_event_twice_changes_nothing(store: Store) -> None:
    """A redelivered event is recognised by id and applied once."""
    parsed = parse_event(published())
    first = store.apply_event(parsed, ["vi/all", "vi/category/heritage"])
    second = store.apply_event(parsed, ["vi/all", "vi/category/heritage"])
    assert first.status == "applied" and set(first.dirtied) == {"vi/all", "vi/category/heritage"}
    assert second.status == "duplicate" and second.dirtied == ()
    state = store.article_state("a1")
    assert state is not None and state.applied == 1


def test_older_update_never_overwrites_newer(store: Store) -> None:
    """An update that arrives late with an older updated_at is recorded as stale."""
    newer = parse_event(
        published("e2", updated_at="2026-11-21T10:00:00+07:00", title="Bản mới", type="x")
    )
    older = parse_event(published("e3", updated_at="2026-11-21T09:00:00+07:00", title="Bản cũ"))
    assert store.apply_event(newer, ["vi/all"]).status == "applied"
    assert store.apply_event(older, ["vi/all"]).status == "stale"
    article = store.get_article("a1")
    assert article is not None and article.title == "Bản mới"
    assert store.event_state("e3") == "stale"


def test_update_moves_the_article_between_feeds_and_dirties_both(store: Store) -> None:
    """A category change leaves the old feed, joins the new one, and both must re-render."""
    store.apply_event(parse_event(published("e1")), ["vi/all", "vi/category/heritage"])
    store.claim_dirty("vi/all")
    store.claim_dirty("vi/category/heritage")
    moved = parse_event(published("e2", category="people", updated_at="2026-11-21T10:00:00+07:00"))
    result = store.apply_event(moved, ["vi/all", "vi/category/people"])
    assert set(result.dirtied) == {"vi/all", "vi/category/heritage", "vi/category/people"}
    assert store.feed_article_ids("vi/category/heritage", 10) == []
    assert store.feed_article_ids("vi/category/people", 10) == ["a1"]


def test_unpublish_removes_from_every_feed_and_leaves_tombstones(store: Store) -> None:
    """A retracted article leaves every feed index; each feed keeps a tombstone."""
    store.apply_event(parse_event(published("e1")), ["vi/all", "vi/category/heritage"])
    result = store.apply_event(parse_event(unpublished("e2", "a1")), [])
    assert result.status == "applied"
    assert set(result.affected) == {"vi/all", "vi/category/heritage"}
    assert result.dirtied == ()  # renders are already pending from the publish
    assert store.feed_article_ids("vi/all", 10) == []
    assert [a for a, _ in store.feed_tombstones("vi/all", since=0)] == ["a1"]
    assert store.count_articles() == 0
    state = store.article_state("a1")
    assert state is not None and state.state == "unpublished"


def test_a_late_publish_does_not_resurrect_a_retracted_article(store: Store) -> None:
    """A publish event older than the unpublish that followed it stays stale."""
    store.apply_event(parse_event(unpublished("e9", "a1", "2026-11-22T00:00:00+07:00")), [])
    assert store.apply_event(parse_event(published("e1")), ["vi/all"]).status == "stale"
    assert store.feed_article_ids("vi/all", 10) == []


def test_feed_index_reads_newest_first_and_only_n(store: Store) -> None:
    """A feed reads its newest N article ids by publish time, whatever the arrival order."""
    for i, day in enumerate([3, 1, 5, 2, 4]):
        store.apply_event(
            parse_event(published(f"e{i}", f"a{day}", published_at=f"2026-11-0{day}T08:00:00Z")),
            ["en/all"],
        )
    assert store.feed_article_ids("en/all", 3) == ["a5", "a4", "a3"]


def test_translations_are_linked_to_their_story(store: Store) -> None:
    """Every translation is reachable from the story id (the original's id)."""
    store.apply_event(parse_event(published("e1", "story-vi")), ["vi/all"])
    store.apply_event(
        parse_event(published("e2", "story-en", language="en", translation_of="story-vi")),
        ["en/all"],
    )
    store.apply_event(
        parse_event(published("e3", "story-ja", language="ja", translation_of="story-vi")),
        ["ja/all"],
    )
    assert store.translations("story-vi") == ["story-en", "story-ja", "story-vi"]


def test_batch_apply_matches_one_by_one(store: Store) -> None:
    """Applying in one pipelined batch dedupes within the batch like single applies."""
    events = [parse_event(published(f"e{i}", f"a{i}")) for i in range(20)]
    results = store.apply_events([(p, ["vi/all"]) for p in events + events[:5]])
    assert [r.status for r in results] == ["applied"] * 20 + ["duplicate"] * 5
    assert store.feed_size("vi/all") == 20


def test_a_streamed_batch_survives_a_dropped_connection_and_a_lost_script(
    store: Store, redis_url: str
) -> None:
    """Chunks are sent as they are ready and answered together. A restarted Redis has lost
    the script and the connection between two chunks: the batch is sent again on a new
    connection, and every event is applied once (one the first attempt had applied answers
    ``duplicate`` the second time)."""
    client = redis.Redis.from_url(redis_url, client_name="stream-under-test")
    streamed = Store(client, store.keys)
    other = redis.Redis.from_url(redis_url)
    try:
        events = [parse_event(published(f"e{i}", f"a{i}")) for i in range(250)]
        other.script_flush()
        with streamed.apply_stream() as stream:
            stream.send([(p, ["vi/all"]) for p in events[:100]])
            ours = [c for c in other.client_list() if c["name"] == "stream-under-test"]
            assert len(ours) == 1
            other.client_kill_filter(_id=ours[0]["id"])
            other.script_flush()
            stream.send([(p, ["vi/all"]) for p in events[100:200]])
            stream.send([(p, ["vi/all"]) for p in events[200:]])
            results = stream.results()
        assert [r.event_id for r in results] == [p.event.id for p in events]
        assert {r.status for r in results} <= {"applied", "duplicate"}
        assert all(r.status == "applied" for r in results[100:])
        assert store.feed_size("vi/all") == 250
        assert all(store.event_state(p.event.id) == "applied" for p in events)
        states = [store.article_state(f"a{i}") for i in range(250)]
        assert all(s is not None and s.applied == 1 for s in states)
        assert client.ping() is True  # the pooled connection is clean for its next user
    finally:
        client.close()
        other.close()


def test_a_script_error_in_a_stream_leaves_no_reply_behind(store: Store) -> None:
    """A call that fails raises like a single call, and the replies nobody read are not
    handed to the connection's next user."""
    failing = store.r.register_script("return redis.error_reply('boom ' .. ARGV[1])")
    with pytest.raises(redis.ResponseError, match="boom 1"), ScriptStream(store.r, failing) as s:
        for i in range(1, 4):
            s.send([], [i])
        s.results()
    assert store.r.ping() is True
    assert store.r.set(store.keys.article("probe"), "x") is True


def test_dead_letters_keep_payload_errors_time_and_source(store: Store) -> None:
    """A rejected event is kept whole with why, when and where from, and can be dropped."""
    dl_id = store.add_dead_letter(
        '{"id": "bad"}', ["type: required"], source="cli:x.json#1", event_id="bad", now=1000.0
    )
    [letter] = store.dead_letters()
    assert (letter.id, letter.raw, letter.errors, letter.source, letter.at) == (
        dl_id,
        '{"id": "bad"}',
        ("type: required",),
        "cli:x.json#1",
        1000.0,
    )
    assert store.event_state("bad") == "rejected"
    assert store.drop_dead_letter(dl_id) and store.dead_letters() == []


def test_an_event_is_applied_through_a_lost_script_and_a_dropped_connection(
    store: Store, redis_url: str
) -> None:
    """A restarted Redis has forgotten the apply script and dropped every connection: the
    next event loads the script again and reconnects, and each event is applied once."""
    store.r.script_flush()
    assert store.apply_event(parse_event(published("e1")), ["vi/all"]).status == "applied"
    conn = store.r.connection_pool.get_connection()
    conn.send_command("CLIENT", "ID")
    pooled = int(conn.read_response())
    store.r.connection_pool.release(conn)
    other = redis.Redis.from_url(redis_url)
    try:
        assert other.client_kill_filter(_id=str(pooled)) == 1
    finally:
        other.close()
    updated = published("e2", updated_at="2026-11-21T10:00:00+07:00")
    assert store.apply_event(parse_event(updated), ["vi/all"]).status == "applied"
    assert store.apply_event(parse_event(updated), ["vi/all"]).status == "duplicate"
    state = store.article_state("a1")
    assert state is not None and state.applied == 2


def test_only_this_prefix_is_touched(store: Store, redis_url: str) -> None:
    """Deleting the store's keys leaves other prefixes on a shared server alone."""
    import redis

    other = redis.Redis.from_url(redis_url)
    other.set("someone-else:key", "x")
    try:
        store.apply_event(parse_event(published()), ["vi/all"])
        assert store.delete_all() > 0
        assert other.get("someone-else:key") == b"x"
        assert list(store.r.scan_iter(match=store.keys.pattern())) == []
    finally:
        other.delete("someone-else:key")


def test_a_batch_that_fails_midway_still_marks_what_it_changed(store: Store) -> None:
    """A call of many events writes its dirty marks once, at its end, and also when an event
    fails midway: the events applied before the failure leave their feeds owed a render."""
    first = parse_event(published("e1", "a1"))
    second = parse_event(published("e2", "a2", category="people"))
    store.r.set(store.keys.article_feeds("a2"), "not a set")  # the second apply will fail
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.apply_events([(first, ["vi/all"]), (second, ["vi/all", "vi/category/people"])])
    assert store.event_state("e1") == "applied"
    assert set(store.dirty_feeds()) == {"vi/all", "vi/category/people"}


def test_each_change_in_one_call_moves_a_feeds_mark_past_what_a_render_read(store: Store) -> None:
    """A render that read a feed before a call of many events cannot clear the mark that
    call left, however many of its events touch the feed."""
    store.apply_event(parse_event(published("e0", "a0")), ["vi/all"], now=1000.0)
    read = dict(store.r.zrange(store.keys.dirty_feeds, 0, -1, withscores=True))[b"vi/all"]
    events = [parse_event(published(f"e{i}", f"a{i}")) for i in range(1, 4)]
    store.apply_events([(p, ["vi/all"]) for p in events], now=1000.0)  # the same clock
    assert store.finish_dirty({"vi/all": read}) == ["vi/all"]  # still owed
    assert store.dirty_feeds() == ["vi/all"]
