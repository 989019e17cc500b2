"""Social posts end to end: routing, planning, sending once, failures, crashes, the lifecycle.

Real Redis (per-test prefix), the real Mastodon.py and tweepy adapters against the local
sandboxes, and real worker subprocesses wherever a crash or the beat is part of the story.
Channels are written as YAML into the test's config folder and read with ``load_config``, as
the worker reads them; their credentials live in environment variables named by the config.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from feeds.catalog import feed_indexer
from syndication.config import Config, load_config
from syndication.connection import connect
from syndication.ingest import Ingestor
from syndication.keys import Keys
from syndication.posts import Posts
from syndication.posts.decide import Decision
from syndication.posts.ledger import Ledger, Post, PostStatus, post_id_for
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.base import SandboxServer
from syndication.testing.mastodon import MastodonSandbox
from syndication.testing.x import XSandbox
from syndication.worklist import WorkList
from tests.conftest import WorkerProcess, wait_until
from tests.sandbox_values import MASTODON_TOKEN, X_CREDENTIALS
from tests.unit.test_events import EVENT
from workers.app import create_app

# Environment variable names the channel configs point at (never SYNDICATION_*: env_for
# strips those before starting a worker).
MASTODON_ENV = {"access_token": "SOCIAL_TEST_MASTODON_TOKEN"}
X_ENV = {role: f"SOCIAL_TEST_X_{role.upper()}" for role in X_CREDENTIALS}
SECRETS = (MASTODON_TOKEN, *X_CREDENTIALS.values())
CREATE_PATH = {"mastodon": "/api/v1/statuses", "x": "/2/tweets"}


# --- helpers --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the sandboxes' distinctive credentials where the channel configs say they are."""
    monkeypatch.setenv(MASTODON_ENV["access_token"], MASTODON_TOKEN)
    for role, name in X_ENV.items():
        monkeypatch.setenv(name, X_CREDENTIALS[role])


def mastodon_channel(
    name: str, base_url: str, language: str = "vi", **extra: Any
) -> dict[str, Any]:
    """A Mastodon channel config (as YAML would hold it) posting at once."""
    schedule = {"delay_after_publish": 0, "min_spacing": 0, **extra.pop("schedule", {})}
    return {
        "name": name,
        "platform": "mastodon",
        "language": language,
        "api_base_url": base_url,
        "credentials": dict(MASTODON_ENV),
        "schedule": schedule,
        **extra,
    }


def x_channel(name: str, base_url: str, language: str = "vi", **extra: Any) -> dict[str, Any]:
    """An X channel config (as YAML would hold it) posting at once."""
    schedule = {"delay_after_publish": 0, "min_spacing": 0, **extra.pop("schedule", {})}
    return {
        "name": name,
        "platform": "x",
        "language": language,
        "api_base_url": base_url,
        "credentials": dict(X_ENV),
        "options": {"username": "sandbox_news"},
        "schedule": schedule,
        **extra,
    }


def write_config(
    config_dir: Path, channels: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None
) -> Config:
    """Write channels and routes to the config folder (as an operator would) and load it."""
    routes = routes or [{"name": "all", "channels": [c["name"] for c in channels]}]
    doc = {"channels": channels, "routing": {"mode": "all", "routes": routes}}
    (config_dir / "channels.yaml").write_text(
        yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
    )
    return load_config(config_dir)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def article_event(
    event_id: str,
    article_id: str,
    *,
    language: str = "vi",
    title: str | None = None,
    published_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> dict[str, object]:
    """A published (or, with ``updated_at``, updated) article event, published just now."""
    published_at = published_at or datetime.now(UTC)
    doc = copy.deepcopy(EVENT)
    doc["id"] = event_id
    doc["type"] = "article.updated" if updated_at else "article.published"
    doc["occurred_at"] = iso(updated_at or published_at)
    article: dict[str, object] = doc["article"]  # type: ignore[assignment]
    article.update(
        {
            "id": article_id,
            "url": f"https://portal.example/{language}/news/{article_id}",
            "language": language,
            "title": title or f"Tin {article_id}",
            "published_at": iso(published_at),
            "updated_at": iso(updated_at) if updated_at else None,
        }
    )
    article.pop("image", None)
    return doc


def unpublish_event(event_id: str, article_id: str) -> dict[str, object]:
    """An unpublish event: just the article id."""
    return {
        "id": event_id,
        "type": "article.unpublished",
        "occurred_at": iso(datetime.now(UTC)),
        "article": {"id": article_id},
    }


def apply(
    store: Store, config: Config, poster: Posts, event: dict[str, object], now: float | None = None
) -> list[Decision]:
    """Apply one event as the ingest task does, then follow it up for posts."""
    outcome = Ingestor(store, feed_indexer(config.feeds), Settings().limits).ingest(
        event, source="test"
    )
    assert outcome.status == "applied", outcome
    stamp = datetime.now(UTC).timestamp() if now is None else now
    return poster.planner.follow_up(outcome.article_id or "", stamp)


def by_channel(decisions: list[Decision]) -> dict[str, Decision]:
    return {d.channel: d for d in decisions}


def now() -> float:
    return datetime.now(UTC).timestamp()


def make_due(ledger: Ledger, post_id: str) -> None:
    """Bring a rescheduled post's due time to now (as if its backoff had elapsed)."""
    t = now()
    ledger.schedule(post_id, t, t, "test: backoff elapsed")


def notes(post: Post) -> str:
    return "\n".join(str(h.get("note", "")) for h in post.history)


def sandbox_for(platform: str, mastodon: MastodonSandbox, x: XSandbox) -> SandboxServer:
    return mastodon if platform == "mastodon" else x


def channel_for(platform: str, name: str, base_url: str, **extra: Any) -> dict[str, Any]:
    make = mastodon_channel if platform == "mastodon" else x_channel
    return make(name, base_url, **extra)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker subprocesses (env_for passes the lease setting); killed at the end."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, *extra: str) -> WorkerProcess:
        w = WorkerProcess(settings, tmp_path / f"posts-worker-{len(started)}.log", *extra).start()
        started.append(w)
        return w

    yield start
    for w in started:
        # The test is over: SIGKILL is as good as a warm shutdown here, and much faster.
        w.kill()


def dispatch_runs(worker: WorkerProcess) -> int:
    """How many dispatch_due beat runs the worker has finished (from its Celery log)."""
    return len(re.findall(r"Task syndication\.dispatch_due\[[^\]]+\] succeeded", worker.output()))


# --- 1. routing and planning ----------------------------------------------------------------------


def test_routing_plans_one_post_per_matching_channel_at_the_channel_delay(
    store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox, x_sandbox: XSandbox
) -> None:
    """Each article is planned on the channels of its language, due after the channel's delay."""
    config = write_config(
        config_dir,
        [
            mastodon_channel(
                "news-vi",
                mastodon_sandbox.base_url,
                schedule={"delay_after_publish": "10m", "min_spacing": "10m"},
            ),
            x_channel("news-en", x_sandbox.base_url, language="en"),
        ],
    )
    poster = Posts(store, config)
    published = datetime.now(UTC) - timedelta(minutes=1)
    t = now()

    vi = by_channel(
        apply(store, config, poster, article_event("e-vi", "a-vi", published_at=published), now=t)
    )
    assert vi["news-vi"].action == "planned"
    assert vi["news-vi"].due_at == pytest.approx((published + timedelta(minutes=10)).timestamp())
    assert vi["news-en"].action == "skipped"
    assert vi["news-en"].reason == "no route sends this article here"

    en = by_channel(
        apply(
            store,
            config,
            poster,
            article_event("e-en", "a-en", language="en", published_at=published),
            now=t,
        )
    )
    assert en["news-en"].action == "planned" and en["news-en"].due_at == pytest.approx(t)
    assert en["news-vi"].action == "skipped"

    ja = apply(store, config, poster, article_event("e-ja", "a-ja", language="ja"), now=t)
    assert {d.action for d in ja} == {"skipped"} and len(ja) == 2

    post = poster.ledger.require(post_id_for("news-vi", "a-vi"))
    assert post.status == PostStatus.PLANNED and post.platform == "mastodon"
    assert "Tin a-vi" in post.text and "https://portal.example/vi/news/a-vi" in post.text
    assert post.idempotency_key
    assert Ledger(store).queued_at(post.id) == pytest.approx(post.due_at)

    # A second article published at the same moment is spread by min_spacing, not dumped.
    second = by_channel(
        apply(store, config, poster, article_event("e-vi2", "a-vi2", published_at=published), now=t)
    )
    assert second["news-vi"].due_at >= post.due_at + 600 - 1e-6

    # Planning the same revision again changes nothing: still one post for the article.
    again = by_channel(poster.planner.plan(store.get_article("a-vi"), t))  # type: ignore[arg-type]
    assert again["news-vi"].action == "kept"
    assert [p.id for p in poster.ledger.for_article("a-vi")] == [post.id]


def test_planners_racing_on_one_channel_keep_its_spacing(
    settings: Settings, store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox
) -> None:
    """Two planners (each its own Redis connection) planning at the same moment never choose
    times from the same view of the channel: every post keeps min_spacing from the others."""
    config = write_config(
        config_dir,
        [mastodon_channel("news-vi", mastodon_sandbox.base_url, schedule={"min_spacing": "10m"})],
    )
    ingestor = Ingestor(store, feed_indexer(config.feeds), Settings().limits)
    ids = [f"race-{n}" for n in range(12)]
    for article_id in ids:
        assert ingestor.ingest(article_event(f"e-{article_id}", article_id), source="test")
    articles = [store.get_article(article_id) for article_id in ids]
    t = now()
    due: list[float] = []
    failures: list[BaseException] = []

    def plan_half(half: int) -> None:
        client = connect(settings)
        try:
            planner = Posts(Store(client, Keys(settings.prefix)), config).planner
            for article in articles[half::2]:
                assert article is not None
                due.extend(d.due_at or 0.0 for d in planner.plan(article, t))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=plan_half, args=(half,)) for half in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    times = sorted(due)
    assert len(times) == len(ids)
    assert all(b - a >= 600 - 1e-6 for a, b in itertools.pairwise(times))


def test_planning_goes_on_after_redis_forgot_its_scripts(
    store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox
) -> None:
    """After a SCRIPT FLUSH (a Redis restart loses scripts too) a plan still takes the channel
    lock, keeps the spacing, writes its post once and leaves the lock free."""
    config = write_config(
        config_dir,
        [mastodon_channel("news-vi", mastodon_sandbox.base_url, schedule={"min_spacing": "10m"})],
    )
    poster = Posts(store, config)
    t = now()
    first = by_channel(apply(store, config, poster, article_event("e-f1", "f1"), now=t))
    store.r.script_flush()
    second = by_channel(apply(store, config, poster, article_event("e-f2", "f2"), now=t))
    assert first["news-vi"].action == second["news-vi"].action == "planned"
    assert (second["news-vi"].due_at or 0) >= (first["news-vi"].due_at or 0) + 600 - 1e-6
    assert [p.id for p in poster.ledger.for_article("f2")] == [post_id_for("news-vi", "f2")]
    assert not store.r.exists(store.keys.channel_lock("news-vi"))


def test_an_unpublish_applied_while_the_post_was_planned_cancels_it(
    store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox
) -> None:
    """The planner reads the article's state again once its post is written: an unpublish
    applied meanwhile (whose retraction found no post yet) cancels the post."""
    config = write_config(config_dir, [mastodon_channel("news-vi", mastodon_sandbox.base_url)])
    poster = Posts(store, config)
    ingestor = Ingestor(store, feed_indexer(config.feeds), Settings().limits)
    assert ingestor.ingest(article_event("e-u1", "u1"), source="test").status == "applied"
    article = store.get_article("u1")
    assert article is not None
    # The unpublish is applied (and its retraction runs) before this plan writes its post.
    assert ingestor.ingest(unpublish_event("e-u2", "u1"), source="test").status == "applied"
    assert poster.planner.retract("u1", now()) == []
    [decision] = poster.planner.plan(article, now())
    assert decision.action == "cancelled" and decision.reason == "article unpublished"
    post = poster.ledger.require(post_id_for("news-vi", "u1"))
    assert post.status == PostStatus.CANCELLED
    assert not store.r.exists(store.keys.channel_lock("news-vi"))


# --- 2. racing senders ----------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["mastodon", "x"])
def test_a_post_is_sent_exactly_once_when_senders_race(
    platform: str,
    store: Store,
    config_dir: Path,
    mastodon_sandbox: MastodonSandbox,
    x_sandbox: XSandbox,
) -> None:
    """Six senders deliver one post at once: one claims and sends it, the others see it sending."""
    sandbox = sandbox_for(platform, mastodon_sandbox, x_sandbox)
    config = write_config(config_dir, [channel_for(platform, "race", sandbox.base_url)])
    apply(store, config, Posts(store, config), article_event("e1", "a1"))
    post_id = post_id_for("race", "a1")
    # Hold the winner inside its platform call so the others arrive while it is sending.
    sandbox.delay_next(0.5, method="POST", path=CREATE_PATH[platform])

    barrier = threading.Barrier(6)
    results: list[str] = []

    def send(n: int) -> None:
        poster = Posts(store, config)
        barrier.wait()
        results.append(poster.sender.deliver(post_id, f"sender-{n}", now()))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)

    assert sorted(results) == ["sending"] * 5 + ["sent"]
    post = Ledger(store).require(post_id)
    assert post.status == PostStatus.SENT and post.attempts == 1
    assert notes(post).count("claimed by") == 1
    assert len(sandbox.requests_to("POST", CREATE_PATH[platform])) == 1
    [live] = sandbox.live_posts()
    assert post.remote_id == live.id


# --- 3, 4. rate limits, outages, lost answers -----------------------------------------------------


@pytest.mark.parametrize("platform", ["mastodon", "x"])
def test_429_reschedules_at_the_platform_reset_then_sends(
    platform: str,
    store: Store,
    config_dir: Path,
    mastodon_sandbox: MastodonSandbox,
    x_sandbox: XSandbox,
) -> None:
    """A 429 puts the post back in the due set at the platform's reset time; the next try sends."""
    sandbox = sandbox_for(platform, mastodon_sandbox, x_sandbox)
    config = write_config(config_dir, [channel_for(platform, "limited", sandbox.base_url)])
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    post_id = post_id_for("limited", "a1")
    reset_at = sandbox.rate_limit_next(reset_in=120, path=CREATE_PATH[platform])  # type: ignore[attr-defined]

    assert poster.sender.deliver(post_id, "w1", now()) == "planned"
    post = poster.ledger.require(post_id)
    # Reset time plus 1-5 s of jitter (give or take the clock rounding of the headers).
    assert reset_at - 1.5 <= post.due_at <= reset_at + 6.5
    assert Ledger(store).queued_at(post_id) == pytest.approx(post.due_at)
    assert "429" in post.last_error or "rate limit" in post.last_error
    assert poster.dispatcher.due_now(now()) == []
    remaining, _ = poster.ledger.rate("limited")
    assert remaining == 0  # the headers feed the channel's schedule
    assert sandbox.live_posts() == []

    make_due(poster.ledger, post_id)
    assert poster.dispatcher.due_now(now()) == [post_id]
    assert poster.sender.deliver(post_id, "w1", now()) == "sent"
    post = poster.ledger.require(post_id)
    assert post.status == PostStatus.SENT and post.attempts == 2 and post.last_error == ""
    assert [p.id for p in sandbox.live_posts()] == [post.remote_id]


@pytest.mark.parametrize("platform", ["mastodon", "x"])
def test_an_outage_backs_off_then_sends_once(
    platform: str,
    store: Store,
    config_dir: Path,
    mastodon_sandbox: MastodonSandbox,
    x_sandbox: XSandbox,
) -> None:
    """A 500 reschedules the post with backoff (not sent, not failed); the retry sends it once."""
    sandbox = sandbox_for(platform, mastodon_sandbox, x_sandbox)
    config = write_config(config_dir, [channel_for(platform, "flaky", sandbox.base_url)])
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    post_id = post_id_for("flaky", "a1")
    sandbox.fail_next(
        500, body={"error": "Internal server error"}, method="POST", path=CREATE_PATH[platform]
    )

    t = now()
    assert poster.sender.deliver(post_id, "w1", t) == "planned"
    post = poster.ledger.require(post_id)
    assert "500" in post.last_error
    assert post.due_at >= t + 20  # 30 s backoff with ±20 % jitter for the first retry
    assert sandbox.live_posts() == []

    make_due(poster.ledger, post_id)
    assert poster.sender.deliver(post_id, "w1", now()) == "sent"
    assert [p.id for p in sandbox.live_posts()] == [poster.ledger.require(post_id).remote_id]


@pytest.mark.parametrize("before_handling", [True, False], ids=["dropped-before", "answer-lost"])
def test_mastodon_retry_after_a_dropped_connection_reuses_the_idempotency_key(
    before_handling: bool, store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox
) -> None:
    """A dropped connection reschedules the post; the retry reuses its Idempotency-Key."""
    config = write_config(config_dir, [mastodon_channel("masto", mastodon_sandbox.base_url)])
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    post_id = post_id_for("masto", "a1")
    if before_handling:
        mastodon_sandbox.drop_next(method="POST", path="/api/v1/statuses")
    else:
        mastodon_sandbox.drop_after_next_post(path="/api/v1/statuses")

    assert poster.sender.deliver(post_id, "w1", now()) == "planned"
    assert len(mastodon_sandbox.live_posts()) == (0 if before_handling else 1)

    make_due(poster.ledger, post_id)
    assert poster.sender.deliver(post_id, "w1", now()) == "sent"
    post = poster.ledger.require(post_id)
    [live] = mastodon_sandbox.live_posts()
    assert post.remote_id == live.id
    keys = [
        r.headers.get("idempotency-key")
        for r in mastodon_sandbox.requests_to("POST", "/api/v1/statuses")
    ]
    assert keys == [post.idempotency_key, post.idempotency_key]


def test_x_answer_lost_after_posting_is_reconciled_to_sent_without_resending(
    store: Store, config_dir: Path, x_sandbox: XSandbox
) -> None:
    """X created the tweet but the answer was lost: it is found among recent tweets, not re-sent."""
    config = write_config(config_dir, [x_channel("xvi", x_sandbox.base_url)])
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    post_id = post_id_for("xvi", "a1")
    x_sandbox.drop_after_next_post(path="/2/tweets")

    assert poster.sender.deliver(post_id, "w1", now()) == "sent"
    post = poster.ledger.require(post_id)
    [tweet] = x_sandbox.live_posts()
    assert post.remote_id == tweet.id
    assert post.remote_url == f"https://x.com/sandbox_news/status/{tweet.id}"
    assert len(x_sandbox.requests_to("POST", "/2/tweets")) == 1
    assert "reconciled" in notes(post)


def test_x_unknown_outcome_not_found_is_sent_again_with_the_identical_text(
    store: Store, config_dir: Path, x_sandbox: XSandbox
) -> None:
    """X hung up before handling the post: the account listing confirms it is absent, so it is
    sent again with the identical text (X itself refuses a duplicate), and one tweet exists."""
    config = write_config(config_dir, [x_channel("xvi", x_sandbox.base_url)])
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    post_id = post_id_for("xvi", "a1")
    x_sandbox.drop_next(method="POST", path="/2/tweets")

    assert poster.sender.deliver(post_id, "w1", now()) == "planned"
    post = poster.ledger.require(post_id)
    assert post.status == PostStatus.PLANNED and "sends it again" in notes(post)
    assert len(x_sandbox.requests_to("GET", "/2/users/")) >= 1  # it looked first
    assert poster.dispatcher.due_now(now()) == [post_id]
    assert poster.sender.deliver(post_id, "w2", now()) == "sent"
    assert poster.sender.deliver(post_id, "w3", now()) == "sent"  # a third delivery: no-op
    [tweet] = x_sandbox.live_posts()
    assert tweet.text == post.text
    assert len(x_sandbox.requests_to("POST", "/2/tweets")) == 2


def test_x_duplicate_refusal_means_sent_and_is_looked_up(
    store: Store, config_dir: Path, x_sandbox: XSandbox
) -> None:
    """A resend that X refuses as duplicate content was already out: the post is found and
    recorded as sent, never doubled."""
    config = write_config(config_dir, [x_channel("xvi", x_sandbox.base_url)])
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    post_id = post_id_for("xvi", "a1")
    post = poster.ledger.require(post_id)
    first = poster.adapters.for_channel(config.channel("xvi")).post(
        poster.sender.outgoing(post)
    )  # an earlier attempt whose answer never reached the ledger
    assert poster.sender.deliver(post_id, "w1", now()) == "sent"
    sent = poster.ledger.require(post_id)
    assert sent.remote_id == first.remote_id
    assert len(x_sandbox.live_posts()) == 1


# --- 5. permanent errors --------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["mastodon", "x"])
def test_401_fails_with_the_platform_message_and_no_secret(
    platform: str, store: Store, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused credentials fail the post with the platform's own message and no secret anywhere."""
    sandbox: SandboxServer = (
        MastodonSandbox(bad_tokens=[MASTODON_TOKEN])
        if platform == "mastodon"
        else XSandbox(bad_credentials=[X_CREDENTIALS["consumer_key"]])
    )
    expected = "The access token is invalid" if platform == "mastodon" else "401 Unauthorized"
    with sandbox:
        config = write_config(config_dir, [channel_for(platform, "locked", sandbox.base_url)])
        poster = Posts(store, config)
        apply(store, config, poster, article_event("e1", "a1"))
        post_id = post_id_for("locked", "a1")
        assert poster.sender.deliver(post_id, "w1", now()) == "failed"
        assert sandbox.live_posts() == []

    post = poster.ledger.require(post_id)
    assert post.status == PostStatus.FAILED and post.attempts == 1
    assert expected in post.last_error
    assert Ledger(store).queued_at(post_id) is None
    raw = {k.decode(): v.decode() for k, v in store.r.hgetall(store.keys.post(post_id)).items()}
    captured = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in post.last_error
        assert all(secret not in value for value in raw.values())  # history included
        assert secret not in captured.out and secret not in captured.err


# --- 6. SIGKILL during a send ---------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["mastodon", "x"])
def test_worker_killed_mid_send_leaves_no_duplicate(
    platform: str,
    redis_url: str,
    prefix: str,
    tmp_path: Path,
    config_dir: Path,
    store: Store,
    workers: Callable[..., WorkerProcess],
    mastodon_sandbox: MastodonSandbox,
    x_sandbox: XSandbox,
) -> None:
    """SIGKILL mid platform call: after the lease the post is reconciled, never re-sent blindly."""
    settings = Settings(
        redis_url=redis_url,
        prefix=prefix,
        data_dir=tmp_path / "data",
        config_path=config_dir,
        post_lease_seconds=3,
    )
    sandbox = sandbox_for(platform, mastodon_sandbox, x_sandbox)
    path = CREATE_PATH[platform]
    write_config(config_dir, [channel_for(platform, "crash", sandbox.base_url)])
    # The platform takes 4 s to answer: long enough to kill the worker inside the call.
    sandbox.delay_next(4, method="POST", path=path)
    ledger = Ledger(store)
    post_id = post_id_for("crash", "a1")

    first = workers(settings, "-c", "1", "--beat")
    create_app(settings).send_task("syndication.ingest", (article_event("e1", "a1"),))

    def sending() -> bool:
        post = ledger.get(post_id)
        return bool(
            post and post.status == PostStatus.SENDING and sandbox.requests_to("POST", path)
        )

    wait_until(sending, timeout=30, message="the worker inside the platform call")
    first.kill()
    assert ledger.require(post_id).status == PostStatus.SENDING
    if platform == "x":
        # The classic crash window: the platform accepted the post, the ledger never heard.
        wait_until(lambda: len(sandbox.live_posts()) == 1, timeout=10, message="tweet created")

    workers(settings, "-c", "1", "--beat")

    def settled() -> Post | None:
        post = ledger.get(post_id)
        done = post and (
            post.status == PostStatus.SENT
            or (post.status == PostStatus.UNCERTAIN and post.note == "needs operator")
        )
        return post if done else None

    post: Post = wait_until(settled, timeout=40, message="post reconciled")  # type: ignore[assignment]
    history = notes(post)
    assert "lease expired" in history
    live = sandbox.live_posts()
    assert len(live) <= 1  # never a duplicate, whatever the outcome
    if platform == "mastodon":
        # Resent with the same key: Mastodon answered with the status it already had.
        assert post.status == PostStatus.SENT
        assert [p.id for p in live] == [post.remote_id]
        keys = {r.headers.get("idempotency-key") for r in sandbox.requests_to("POST", path)}
        assert keys == {post.idempotency_key}
    else:
        # No idempotency on X: found among the account's recent tweets, never posted again.
        assert post.status == PostStatus.SENT, history
        assert [p.id for p in live] == [post.remote_id]
        assert "reconciled" in history
        assert len(sandbox.requests_to("POST", path)) == 1


# --- 7. unpublish ---------------------------------------------------------------------------------


def test_unpublish_cancels_unsent_posts_and_deletes_sent_ones_where_allowed(
    store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox, x_sandbox: XSandbox
) -> None:
    """Unpublish cancels the waiting post, deletes the sent one where allowed, keeps the other."""
    config = write_config(
        config_dir,
        [
            mastodon_channel("m-delete", mastodon_sandbox.base_url, delete_on_unpublish=True),
            mastodon_channel("m-keep", mastodon_sandbox.base_url),
            x_channel("x-later", x_sandbox.base_url, schedule={"delay_after_publish": "1h"}),
        ],
    )
    poster = Posts(store, config)
    apply(store, config, poster, article_event("e1", "a1"))
    deleting, keeping, later = (post_id_for(c, "a1") for c in ("m-delete", "m-keep", "x-later"))
    assert set(poster.dispatcher.due_now(now())) == {deleting, keeping}
    assert poster.sender.deliver(deleting, "w1", now()) == "sent"
    assert poster.sender.deliver(keeping, "w1", now()) == "sent"
    assert Ledger(store).queued_at(later) is not None

    decisions = by_channel(apply(store, config, poster, unpublish_event("e2", "a1")))
    assert decisions["x-later"].action == "cancelled"
    assert decisions["m-delete"].action == "delete"
    assert decisions["m-keep"].action == "kept"
    # The delete is owed in the ledger (a durable hand-off), the kept post owes nothing.
    owed = WorkList(store, "sync")
    assert owed.contains(deleting) and not owed.contains(keeping)

    cancelled = poster.ledger.require(later)
    assert cancelled.status == PostStatus.CANCELLED and "article unpublished" in notes(cancelled)
    assert Ledger(store).queued_at(later) is None
    assert poster.sender.deliver(later, "w1", now()) == "cancelled"

    assert poster.syncer.sync(deleting, now()) == "deleted"
    assert poster.syncer.sync(keeping, now()) == "in-step"
    gone, kept = (poster.ledger.require(p) for p in (deleting, keeping))
    assert gone.status == PostStatus.DELETED and kept.status == PostStatus.SENT
    assert mastodon_sandbox.get_post(gone.remote_id).deleted  # type: ignore[union-attr]
    assert [p.id for p in mastodon_sandbox.live_posts()] == [kept.remote_id]
    assert x_sandbox.requests_to("POST", "/2/tweets") == []


# --- 8. update ------------------------------------------------------------------------------------


def test_update_rerenders_unsent_posts_and_edits_sent_ones_without_reposting(
    store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox
) -> None:
    """An update re-renders a waiting post and edits the sent status in place; nothing reposts."""
    config = write_config(
        config_dir,
        [
            mastodon_channel("m-now", mastodon_sandbox.base_url, edit_on_update=True),
            mastodon_channel(
                "m-later",
                mastodon_sandbox.base_url,
                edit_on_update=True,
                schedule={"delay_after_publish": "1h"},
            ),
        ],
    )
    poster = Posts(store, config)
    published = datetime.now(UTC) - timedelta(seconds=30)
    apply(
        store,
        config,
        poster,
        article_event("e1", "a1", title="Bản tin đầu tiên", published_at=published),
    )
    sent_id, waiting_id = post_id_for("m-now", "a1"), post_id_for("m-later", "a1")
    assert poster.sender.deliver(sent_id, "w1", now()) == "sent"
    original = poster.ledger.require(sent_id)
    waiting_due = poster.ledger.require(waiting_id).due_at

    decisions = by_channel(
        apply(
            store,
            config,
            poster,
            article_event(
                "e2",
                "a1",
                title="Bản tin đã sửa",
                published_at=published,
                updated_at=datetime.now(UTC),
            ),
        )
    )
    assert decisions["m-later"].action == "replanned"
    assert decisions["m-now"].action == "edit"

    waiting = poster.ledger.require(waiting_id)
    assert waiting.status == PostStatus.PLANNED and waiting.due_at == waiting_due
    assert "Bản tin đã sửa" in waiting.text and "Bản tin đầu tiên" not in waiting.text

    assert poster.syncer.sync(sent_id, now()) == "edited"
    edited = poster.ledger.require(sent_id)
    assert edited.status == PostStatus.SENT and edited.remote_id == original.remote_id
    assert "edited after the article was updated" in notes(edited)
    [status] = mastodon_sandbox.live_posts()
    assert status.id == original.remote_id
    assert "Bản tin đã sửa" in status.text and status.edits == [original.text]
    assert len(mastodon_sandbox.requests_to("POST", "/api/v1/statuses")) == 1
    assert len(mastodon_sandbox.requests_to("PUT", "/api/v1/statuses/")) == 1


# --- 9, 10. end to end through a worker and its beat ----------------------------------------------


def test_worker_posts_a_published_article_once_then_edits_and_deletes_it(
    settings: Settings,
    store: Store,
    config_dir: Path,
    workers: Callable[..., WorkerProcess],
    mastodon_sandbox: MastodonSandbox,
) -> None:
    """Via ingest and the beat: published → one status, updated → edited, unpublished → deleted."""
    write_config(
        config_dir,
        [
            mastodon_channel(
                "news-vi", mastodon_sandbox.base_url, edit_on_update=True, delete_on_unpublish=True
            )
        ],
    )
    ledger = Ledger(store)
    post_id = post_id_for("news-vi", "a1")
    app = create_app(settings)
    workers(settings, "-c", "1", "--beat")
    published = datetime.now(UTC) - timedelta(seconds=5)
    event = article_event("e1", "a1", title="Phố cổ Hội An", published_at=published)
    app.send_task("syndication.ingest", (event,))
    app.send_task("syndication.ingest", (event,))  # the same event twice: still one post

    def status_is(status: PostStatus) -> Callable[[], Post | None]:
        def check() -> Post | None:
            post = ledger.get(post_id)
            return post if post and post.status == status else None

        return check

    sent: Post = wait_until(status_is(PostStatus.SENT), timeout=30, message="post sent")  # type: ignore[assignment]
    [status] = mastodon_sandbox.live_posts()
    assert sent.remote_id == status.id
    assert sent.remote_url == f"https://mastodon.sandbox/@news/{status.id}"
    assert sent.sent_at > 0 and "Phố cổ Hội An" in status.text

    app.send_task(
        "syndication.ingest",
        (
            article_event(
                "e2",
                "a1",
                title="Phố cổ Hội An về đêm",
                published_at=published,
                updated_at=datetime.now(UTC),
            ),
        ),
    )
    wait_until(
        lambda: mastodon_sandbox.get_post(status.id).edits,  # type: ignore[union-attr]
        timeout=20,
        message="status edited",
    )
    assert "về đêm" in mastodon_sandbox.get_post(status.id).text  # type: ignore[union-attr]

    app.send_task("syndication.ingest", (unpublish_event("e3", "a1"),))
    wait_until(status_is(PostStatus.DELETED), timeout=20, message="post deleted")
    assert mastodon_sandbox.live_posts() == []
    assert len(mastodon_sandbox.requests_to("POST", "/api/v1/statuses")) == 1


def test_paused_channel_holds_its_posts_until_resumed(
    settings: Settings,
    store: Store,
    config_dir: Path,
    workers: Callable[..., WorkerProcess],
    mastodon_sandbox: MastodonSandbox,
) -> None:
    """While a channel is paused the beat leaves its due posts waiting; after resume they go out."""
    write_config(config_dir, [mastodon_channel("news-vi", mastodon_sandbox.base_url)])
    ledger = Ledger(store)
    ledger.pause("news-vi", True)
    post_id = post_id_for("news-vi", "a1")
    worker = workers(settings, "-c", "1", "--beat")
    create_app(settings).send_task("syndication.ingest", (article_event("e1", "a1"),))

    wait_until(lambda: ledger.get(post_id), timeout=30, message="post planned")
    runs = dispatch_runs(worker)
    wait_until(
        lambda: dispatch_runs(worker) >= runs + 2,
        timeout=20,
        message="two dispatcher runs after the post was due",
    )
    post = ledger.require(post_id)
    assert post.status == PostStatus.PLANNED and post.due_at <= now()
    assert Ledger(store).queued_at(post_id) is not None
    assert mastodon_sandbox.requests_to("POST", "/api/v1/statuses") == []

    ledger.pause("news-vi", False)
    wait_until(
        lambda: ledger.require(post_id).status == PostStatus.SENT,
        timeout=20,
        message="post sent after resume",
    )
    assert len(mastodon_sandbox.live_posts()) == 1


def test_an_update_during_an_unknown_outcome_is_edited_in_after_the_idempotent_resend(
    store: Store, config_dir: Path, mastodon_sandbox: MastodonSandbox
) -> None:
    """Mastodon took the post but the answer was lost; the article is updated before the
    resend, which Mastodon answers with the first status (same Idempotency-Key): the ledger
    does not take that for the new text, and the status is edited to it."""
    config = write_config(
        config_dir, [mastodon_channel("m-vi", mastodon_sandbox.base_url, edit_on_update=True)]
    )
    poster = Posts(store, config)
    published = datetime.now(UTC) - timedelta(minutes=1)
    apply(store, config, poster, article_event("e1", "a1", published_at=published))
    post_id = post_id_for("m-vi", "a1")
    mastodon_sandbox.drop_after_next_post(path=CREATE_PATH["mastodon"])
    assert poster.sender.deliver(post_id, "w1", now()) == "planned"  # resend with the key
    decisions = apply(
        store,
        config,
        poster,
        article_event(
            "e2", "a1", title="Tin đã sửa", published_at=published, updated_at=datetime.now(UTC)
        ),
    )
    assert by_channel(decisions)["m-vi"].action == "replanned"
    assert poster.sender.deliver(post_id, "w2", now()) == "sent"
    post = poster.ledger.require(post_id)
    assert post.needs_sync and WorkList(store, "sync").contains(post_id)
    assert poster.syncer.sync(post_id, now()) == "edited"
    [status] = mastodon_sandbox.live_posts()
    assert "Tin đã sửa" in status.text and status.edits
    assert not poster.ledger.require(post_id).needs_sync
