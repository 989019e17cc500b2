"""Social posts: plan and deliver N posts to a local Mastodon, against a bare client loop.

Run: ``python benchmarks/bench_posts.py [--posts 5000] [--spread 600]``. Everything happens in
one run, on one Redis (``REDIS_URL`` or an embedded one, under a private key prefix deleted at
the end) and one in-process :class:`~syndication.testing.mastodon.MastodonSandbox`:

1. **baseline**: a bare loop calling ``Mastodon.status_post`` N times on one Mastodon.py
   client (the adapter's constructor arguments, the same kind of text, a key per post). It runs
   before the pipeline and again after it; the ratios use the mean of the two, so that a
   machine shared with other work drifts both sides alike;
2. **plan**: :meth:`Planner.plan` for N distinct articles (from the sample events), one
   Mastodon channel per sample language, all pointing at the sandbox; the plan rate of the
   first and the last tenth shows whether planning slows down as posts pile up;
3. **deliver, backlog**: the real pipeline, one ``python -m syndication worker -Q deliver -c 2
   --beat`` subprocess (beat's ``dispatch_due`` releases due posts to the ``deliver`` task,
   which claims each post, calls the adapter and records the outcome). Every post is made due
   at the same instant, the worker already warm; the phase ends when the ledger counts them all
   ``sent``;
4. **deliver, spread out**: M more posts due one every ``--interval`` seconds (a steady
   stream, well below capacity), as planned posts come due in normal operation.

Lag is measured two ways per post: *claimed* (``sent_at - due_at``: ``sent_at`` is when its
sender claimed it, so this is the dispatcher's and the queue's share) and *sent* (when the
sandbox created the status, minus ``due_at``: the whole way to the platform).

The platform budget (Mastodon 300 requests per 5 minutes per account) makes the planner spread
a burst over time, as it should; the planned times are reported, then every post is
rescheduled (``Ledger.schedule``) so that delivery is what phases 3 and 4 measure. The sandbox
reports rate-limit headers without enforcing them, with a limit too high to reach, so no 429
comes back and the reported ``remaining`` never reaches zero.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml
from mastodon import Mastodon

from benchmarks._common import (
    BenchEnv,
    EventFactory,
    Worker,
    bench_env,
    median,
    owns_server,
    percentile,
    quiesce,
    redis_server,
    table,
    used_memory,
    wait_until,
)
from syndication.config import Config, load_config
from syndication.events import Article, parse_event
from syndication.logging import configure_logging
from syndication.ops import Ops
from syndication.posts import Posts
from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.posts.planner import compose
from syndication.testing.mastodon import MastodonSandbox

# The environment variable the channels name for their token (the worker inherits it).
TOKEN_ENV = "BENCH_POSTS_MASTODON_TOKEN"  # noqa: S105 (a variable name, not a secret)
LANGUAGES = ("vi", "en", "ja")
# High enough that X-RateLimit-Remaining never reaches 0 during a run (nothing is enforced).
REQUEST_LIMIT = 1_000_000_000
# Seconds allowed for each delivery phase.
DELIVERY_TIMEOUT = 300.0


@dataclass
class Phase:
    """One measured phase: how many, how long."""

    name: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.count / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class Delivery:
    """What one delivery phase saw."""

    phase: Phase
    # Per post: claimed (sent_at - due_at) and sent (sandbox created_at - due_at), seconds.
    claimed: list[float]
    sent: list[float]
    complete: bool
    sandbox_posts: int
    # The deliver queue's length at each poll (every 50 ms) while posts were outstanding.
    queue_depths: list[int]


# --- setup ------------------------------------------------------------------------------------
def write_channels(config_dir: Path, base_url: str) -> Config:
    """Write ``channels.yaml`` (one sandbox channel per language, routed by language)."""
    channels = [
        {
            "name": f"mastodon-{lang}",
            "platform": "mastodon",
            "language": lang,
            "api_base_url": base_url,
            "credentials": {"access_token": TOKEN_ENV},
            # Translations are separate posts here (each channel has one language anyway).
            "allow_translations": True,
            "max_age": "3650d",
            "schedule": {"delay_after_publish": 0, "min_spacing": "0s"},
        }
        for lang in LANGUAGES
    ]
    routing = {
        "mode": "all",
        "routes": [
            {
                "name": f"all-{lang}",
                "match": {"languages": [lang]},
                "channels": [f"mastodon-{lang}"],
            }
            for lang in LANGUAGES
        ],
    }
    path = config_dir / "channels.yaml"
    path.write_text(
        yaml.safe_dump({"channels": channels, "routing": routing}, allow_unicode=True),
        encoding="utf-8",
    )
    return load_config(config_dir)


def make_articles(count: int) -> list[Article]:
    """``count`` distinct, valid articles from the sample events (via ``parse_event``)."""
    articles = []
    for raw in EventFactory().take(count):
        event = parse_event(raw).event
        article = getattr(event, "article", None)
        if not isinstance(article, Article):
            raise RuntimeError(f"event {raw.get('id')} carries no article")
        articles.append(article)
    return articles


def mastodon_client(base_url: str, token: str) -> Mastodon:
    """A Mastodon.py client built as :class:`MastodonAdapter` builds its own."""
    return Mastodon(
        access_token=token,
        api_base_url=base_url,
        ratelimit_method="throw",
        request_timeout=30,
        mastodon_version="4.3.0",
        version_check_mode="none",
    )


# --- phases -----------------------------------------------------------------------------------
def baseline(base_url: str, token: str, texts: Sequence[tuple[str, str]], run: str) -> Phase:
    """A bare loop: ``status_post`` once per text on one client, as simple code would."""
    api = mastodon_client(base_url, token)
    api.status_post("warm-up", visibility="public", idempotency_key=f"{run}-warm")
    started = time.perf_counter()
    for i, (text, language) in enumerate(texts):
        api.status_post(text, language=language, visibility="public", idempotency_key=f"{run}-{i}")
    return Phase("bare status_post loop", len(texts), time.perf_counter() - started)


def plan_all(poster: Posts, articles: Sequence[Article]) -> tuple[Phase, list[str], list[float]]:
    """Plan every article; return the phase, the planned post ids and each plan's seconds."""
    ids: list[str] = []
    each: list[float] = []
    started = time.perf_counter()
    for article in articles:
        t0 = time.perf_counter()
        decisions = poster.planner.plan(article, time.time())
        each.append(time.perf_counter() - t0)
        ids += [d.post_id for d in decisions if d.action == "planned" and d.post_id]
    return Phase("Planner.plan", len(articles), time.perf_counter() - started), ids, each


def reschedule(ledger: Ledger, ids: Sequence[str], due_at: float, note: str) -> float:
    """``Ledger.schedule`` every post at ``due_at``; return the seconds it took."""
    started = time.perf_counter()
    for pid in ids:
        ledger.schedule(pid, due_at, time.time(), note)
    return time.perf_counter() - started


def posts_of(ledger: Ledger, ids: Sequence[str]) -> list[Post]:
    """The posts, read in batches."""
    out: list[Post] = []
    for i in range(0, len(ids), 500):
        out += ledger.many(ids[i : i + 500])
    return out


def sent_count(ledger: Ledger) -> int:
    """Posts the ledger counts as sent (all channels)."""
    return sum(n for (_, _, status), n in ledger.counts().items() if status == PostStatus.SENT)


def lags(ledger: Ledger, ids: Sequence[str], sandbox: MastodonSandbox) -> tuple[
    list[float], list[float]
]:  # fmt: skip
    """Per sent post: claimed lag (sent_at - due_at) and sent lag (the sandbox's creation)."""
    created = {p.idempotency_key: p.created_at for p in sandbox.live_posts()}
    claimed, sent = [], []
    for post in posts_of(ledger, ids):
        if post.status != PostStatus.SENT:
            continue
        claimed.append(post.sent_at - post.due_at)
        if post.idempotency_key in created:
            sent.append(created[post.idempotency_key] - post.due_at)
    return claimed, sent


def await_sent(
    ledger: Ledger, target: int, worker: Worker, ops: Ops, since: float, timeout: float
) -> tuple[bool, float, list[int]]:
    """Wait until the ledger counts ``target`` posts sent; (complete, when, queue depths)."""
    depths: list[int] = []

    def all_sent() -> bool:
        # Each poll also samples the deliver queue: empty between beat ticks means the
        # workers wait for the dispatcher, a deep queue that they are the bottleneck.
        if time.time() >= since:
            depths.append(ops.queue_lengths(["deliver"])["deliver"])
        return sent_count(ledger) >= target

    try:
        done = wait_until(
            all_sent,
            timeout=timeout + max(0.0, since - time.time()),
            interval=0.05,
            what=f"{target} posts sent",
            worker=worker,
        )
    except TimeoutError as exc:
        print(f"note: {exc}", file=sys.stderr)
        return False, time.time(), depths
    return True, time.time() - (time.perf_counter() - done), depths


def deliver_all(
    env: BenchEnv,
    ledger: Ledger,
    backlog: Sequence[str],
    spread: Sequence[str],
    interval: float,
    sandbox: MastodonSandbox,
    timeout: float,
) -> tuple[Delivery, Delivery]:
    """Start one worker with beat; make the backlog due at once and wait until all are sent;
    then make the spread posts due one every ``interval`` seconds and wait for those."""
    # Hold every post a day ahead while the worker boots, so that none is due yet.
    hold = reschedule(ledger, [*backlog, *spread], time.time() + 86_400, "benchmark: held")
    before = len(sandbox.live_posts())
    worker = Worker(env, queues="deliver", concurrency=2, pool="prefork")
    worker.argv.append("--beat")
    ops = Ops(env.store)
    with worker:
        wait_until(
            lambda: ops.heartbeats("worker") and ops.heartbeats("beat"),
            timeout=60,
            interval=0.1,
            what="the worker and beat to be ready",
            worker=worker,
        )
        quiesce(env.client, compact=owns_server())
        # Everything becomes due at one instant, just after this loop ends (it takes about as
        # long as the hold loop did).
        due_at = time.time() + 1.5 * hold * len(backlog) / (len(backlog) + len(spread)) + 1.0
        reschedule(ledger, backlog, due_at, "benchmark: due now")
        late = time.time() - due_at
        if late > 0:
            print(f"note: rescheduling ended {late:.2f}s after the due time", file=sys.stderr)
        complete, finished, depths = await_sent(ledger, len(backlog), worker, ops, due_at, timeout)
        received = len(sandbox.live_posts()) - before
        claimed, sent = lags(ledger, backlog, sandbox)
        phase = Phase("pipeline, backlog (all due at once)", len(claimed), finished - due_at)
        burst = Delivery(phase, claimed, sent, complete, received, depths)

        start = time.time() + 2.0
        for i, pid in enumerate(spread):
            ledger.schedule(pid, start + i * interval, time.time(), "benchmark: spread out")
        complete, finished, depths = await_sent(
            ledger, len(backlog) + len(spread), worker, ops, start, timeout
        )
        claimed, sent = lags(ledger, spread, sandbox)
        phase = Phase("pipeline, spread out", len(claimed), finished - start)
        received = len(sandbox.live_posts()) - before - burst.sandbox_posts
        steady = Delivery(phase, claimed, sent, complete, received, depths)
    return burst, steady


# --- report -----------------------------------------------------------------------------------
def busiest_window(posts: Sequence[Post], window: float = 300.0) -> tuple[int, str]:
    """The most posts one channel has due within any ``window`` seconds, and that channel."""
    best, where = 0, ""
    for channel in sorted({p.channel for p in posts}):
        times = sorted(p.due_at for p in posts if p.channel == channel)
        for i, t in enumerate(times):
            n = bisect.bisect_left(times, t + window) - i
            if n > best:
                best, where = n, channel
    return best, where


def lag_cells(values: Sequence[float]) -> list[str]:
    """p50 and p99 in milliseconds."""
    return [f"{1000 * median(values):,.0f}", f"{1000 * percentile(values, 99):,.0f}"]


def report(
    count: int,
    base: tuple[Phase, Phase],
    planned: Phase,
    each: Sequence[float],
    budget_note: str,
    burst: Delivery,
    steady: Delivery,
    interval: float,
) -> bool:
    """Print the tables; True when every phase completed."""
    bare = (base[0].rate + base[1].rate) / 2
    rows = [
        [base[0].name + " (before)", f"{base[0].count}", f"{base[0].seconds:.2f}",
         f"{base[0].rate:,.0f}", f"{base[0].rate / bare:.2f}", "", "", "", ""],
        [base[1].name + " (after)", f"{base[1].count}", f"{base[1].seconds:.2f}",
         f"{base[1].rate:,.0f}", f"{base[1].rate / bare:.2f}", "", "", "", ""],
        [planned.name, f"{planned.count}", f"{planned.seconds:.2f}", f"{planned.rate:,.0f}",
         f"{planned.rate / bare:.2f}", "", "", "", ""],
    ]  # fmt: skip
    for d in (burst, steady):
        # The spread-out phase runs at the pace posts come due: its rate is not a throughput.
        versus = f"{d.phase.rate / bare:.2f}" if d is burst else ""
        rows.append(
            [d.phase.name, f"{d.phase.count}", f"{d.phase.seconds:.2f}", f"{d.phase.rate:,.0f}",
             versus, *lag_cells(d.claimed), *lag_cells(d.sent)]
        )  # fmt: skip
    print(f"posts: {count} (articles {count}, channels {len(LANGUAGES)}, one Mastodon sandbox)")
    header = ["phase", "n", "seconds", "per s", "x bare", "claimed p50 ms", "claimed p99 ms",
              "sent p50 ms", "sent p99 ms"]  # fmt: skip
    print(table(rows, header))
    tenth = max(1, len(each) // 10)
    first, last = tenth / sum(each[:tenth]), tenth / sum(each[-tenth:])
    print(
        f"plan rate: first 10% {first:,.0f}/s, last 10% {last:,.0f}/s "
        f"(last/first {last / first:.2f}; goal >= 500/s overall and >= 0.8); {budget_note}"
    )
    print(
        f"delivery: backlog at {burst.phase.rate / bare:.2f} x the bare loop (goal >= 0.8); "
        f"sandbox received {burst.sandbox_posts + steady.sandbox_posts} statuses for "
        f"{burst.phase.count + steady.phase.count} sent posts"
        + ("" if burst.complete and steady.complete else "; INCOMPLETE")
    )
    depths = burst.queue_depths
    if depths:
        idle = sum(1 for n in depths if n == 0) / len(depths)
        print(
            f"deliver queue during the backlog: empty in {idle:.0%} of {len(depths)} samples, "
            f"mean {sum(depths) / len(depths):.1f}, max {max(depths)} messages "
            "(a message carries up to 10 posts)"
        )
    print(
        f"spread out: one post due every {interval * 1000:.0f} ms; lag = claimed: sent_at - "
        "due_at (sent_at: when a sender claimed it); sent: the sandbox created it - due_at; "
        "x bare = per s / the bare loop's mean per s"
    )
    return burst.complete and steady.complete


def run(count: int, spread: int, interval: float, timeout: float) -> None:
    """Measure the phases and print the table."""
    configure_logging("WARNING")
    token = secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token  # the worker subprocess inherits it
    sandbox = MastodonSandbox(request_limit=REQUEST_LIMIT)
    base_url = sandbox.start()
    try:
        with redis_server() as url, bench_env("posts", url) as env:
            config = write_channels(env.settings.config_path, base_url)
            poster = Posts(env.store, config)
            articles = make_articles(count + spread)
            channels = {c.language: c for c in config.channels}
            texts = [(compose(channels[a.language], a), a.language) for a in articles[:count]]

            before = baseline(base_url, token, texts, env.prefix)

            quiesce(env.client, compact=owns_server())
            memory = used_memory(env.client)
            planned, ids, each = plan_all(poster, articles[:count])
            memory = used_memory(env.client) - memory
            if len(ids) != count:
                raise RuntimeError(f"planned {len(ids)} posts for {count} articles")
            posts = posts_of(poster.ledger, ids)
            dues = sorted(p.due_at for p in posts)
            busiest, channel = busiest_window(posts)
            budget_note = (
                f"planned due times span {dues[-1] - dues[0]:,.0f}s; busiest 5 min: "
                f"{busiest} posts on {channel} (the budget allows 300); Redis memory "
                f"{memory * 10_000 / count / 2**20:,.1f} MB per 10,000 planned posts"
            )
            _, extra, _ = plan_all(poster, articles[count:])

            burst, steady = deliver_all(env, poster.ledger, ids, extra, interval, sandbox, timeout)
            after = baseline(base_url, token, texts, env.prefix + "-after")
    finally:
        sandbox.stop()
        os.environ.pop(TOKEN_ENV, None)
    ok = report(count, (before, after), planned, each, budget_note, burst, steady, interval)
    if not ok or not math.isfinite(burst.phase.rate):
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Parse the options and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=5000, help="articles to plan and deliver")
    parser.add_argument(
        "--spread", type=int, default=600, help="posts then delivered at spread-out due times"
    )
    parser.add_argument(
        "--interval", type=float, default=0.05, help="seconds between spread-out due times"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DELIVERY_TIMEOUT,
        help="seconds allowed for each delivery phase",
    )
    args = parser.parse_args(argv if argv is not None else [])
    if args.posts < 10 or args.spread < 1 or args.interval <= 0:
        parser.error("--posts must be at least 10, --spread at least 1, --interval positive")
    run(args.posts, args.spread, args.interval, args.timeout)


if __name__ == "__main__":
    main(sys.argv[1:])
