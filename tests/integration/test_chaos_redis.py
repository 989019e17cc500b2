"""Redis restarts under load: a real redis-server (AOF on) killed and started again while
events flow, a real supervised ``syndication worker --beat``, nobody restarting anything.

The publisher appends events to the inbox stream as a CMS would, retrying each XADD until
Redis accepts it; only accepted events count. The worker applies them (its inbox reader and
beat's drains); beat's survival shows in the worker running beat's tasks after the restarts.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from syndication.keys import Keys
from syndication.publishing import UNREACHABLE, inbox_append
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import PrivateRedis, WorkerProcess, env_for, wait_until
from tests.unit.test_events import EVENT


def _event(n: int) -> dict[str, object]:
    doc = copy.deepcopy(EVENT)
    doc["id"] = f"chaos-evt-{n:05d}"
    article = doc["article"]
    assert isinstance(article, dict)
    article["id"] = f"chaos-{n:05d}"
    article.pop("translation_of", None)
    return doc


class Publisher(threading.Thread):
    """Appends events to the inbox at a steady pace; each event is retried until accepted."""

    def __init__(self, store: Store) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.accepted: list[int] = []
        self.refused = 0
        self.halt = threading.Event()

    def run(self) -> None:
        append = inbox_append(self.store)  # the producers' hand-off: one XADD per event
        n = 0
        while not self.halt.is_set():
            try:
                append(_event(n))
            except (redis.RedisError, *UNREACHABLE):
                self.refused += 1
                self.halt.wait(0.05)
                continue
            self.accepted.append(n)
            n += 1
            self.halt.wait(0.004)  # ~200 events/s: load, not a flood the test must wait out


def _applied_counts(store: Store, numbers: list[int]) -> list[int]:
    """The ``applied`` counter of each article, in one round trip."""
    pipe = store.r.pipeline(transaction=False)
    for n in numbers:
        pipe.hget(store.keys.article_meta(f"chaos-{n:05d}"), "applied")
    return [int(v or 0) for v in pipe.execute()]


_LOST = "Connection to broker lost"


_BEAT_TASK_RUN = re.compile(r"Task syndication\.dispatch_due\[[^\]]+\] succeeded")


def _beat_tasks_run(worker: WorkerProcess) -> int:
    """How many of beat's dispatch_due messages the worker has run (from its Celery log)."""
    return len(_BEAT_TASK_RUN.findall(worker.output()))


def _outage(
    server: PrivateRedis, sig: signal.Signals, publisher: Publisher, worker: WorkerProcess
) -> None:
    """Once the worker applies events and runs beat's tasks, stop Redis with ``sig`` while the
    publisher is writing, and start it again on the same port and data folder once both the
    publisher and the worker felt the outage."""
    ran = _beat_tasks_run(worker)
    flowing = len(publisher.accepted) + 200
    wait_until(lambda: len(publisher.accepted) >= flowing, timeout=30, message="events flowing")
    wait_until(
        lambda: _beat_tasks_run(worker) > ran,
        timeout=30,
        message="the worker connected again, running beat's tasks",
    )
    recent = publisher.accepted[flowing - 100]
    wait_until(
        lambda: _applied_counts(publisher.store, [recent]) == [1],
        timeout=30,
        message="the worker applying events",
    )
    refused, lost = publisher.refused, worker.output().count(_LOST)
    server.stop(sig)
    wait_until(
        lambda: publisher.refused >= refused + 5 and worker.output().count(_LOST) > lost,
        timeout=15,
        message="the outage felt by the publisher and the worker",
    )
    server.start()


class Beat:
    """A real, supervised ``syndication beat`` subprocess in a process group of its own."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syndication", "beat"],
            env=env_for(settings),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        return self.proc.returncode


@pytest.mark.parametrize("beat", ["worker --beat", "syndication beat"])
def test_redis_killed_and_terminated_under_load_loses_no_accepted_event(
    beat: str,
    private_redis: PrivateRedis,
    tmp_path: Path,
    config_dir: Path,
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    """SIGKILL then SIGTERM of redis-server while events flow: the worker and beat go on by
    themselves, and every accepted event is applied exactly once."""
    settings = Settings(
        redis_url=private_redis.url,
        prefix="chaos",
        data_dir=tmp_path / "data",
        config_path=config_dir,
        inbox_claim_after=2.0,
    )
    client = redis.Redis.from_url(private_redis.url, socket_connect_timeout=1, socket_timeout=2)
    store = Store(client, Keys(settings.prefix))
    if beat == "worker --beat":
        worker, scheduler = worker_factory(settings, "--beat", "-c", "2"), None
    else:
        worker = worker_factory(settings, "-c", "2")
        scheduler = Beat(settings, tmp_path / "beat.log")
    publisher = Publisher(store)
    try:
        figures = _run_outages(private_redis, publisher, store, worker)
        beat_alive = scheduler is None or scheduler.proc.poll() is None
    finally:
        beat_status = scheduler.stop() if scheduler else 0
    restarts = worker.output().count('"event": "worker.died"')
    if scheduler:
        restarts += scheduler.log.read_text(errors="replace").count('"event": "beat.died"')
    print(f"\n[{beat}] redis restarts: 2 (SIGKILL, SIGTERM); {figures}, self-restarts: {restarts}")
    assert worker.proc is not None and worker.proc.poll() is None, worker.output()[-3000:]
    assert beat_alive and beat_status == 0
    assert "gave_up" not in worker.output()
    worker.stop()
    assert worker.proc.returncode == 0, worker.output()[-3000:]


def _run_outages(
    server: PrivateRedis, publisher: Publisher, store: Store, worker: WorkerProcess
) -> str:
    """Two outages under load, then every accepted event checked; returns the figures."""
    publisher.start()
    try:
        _outage(server, signal.SIGKILL, publisher, worker)
        _outage(server, signal.SIGTERM, publisher, worker)
        ran = _beat_tasks_run(worker)
        wait_until(
            lambda: _beat_tasks_run(worker) >= ran + 2,
            timeout=30,
            message="beat's tasks sent and run after the restarts",
        )
        flowing = len(publisher.accepted) + 300
        wait_until(lambda: len(publisher.accepted) >= flowing, message="events flowing again")
    finally:
        publisher.halt.set()
        publisher.join(10)
    accepted = list(publisher.accepted)

    def all_applied() -> bool:
        try:
            return all(_applied_counts(store, accepted))
        except redis.RedisError:
            return False

    wait_until(all_applied, timeout=60, interval=0.5, message="every accepted event applied")
    states = [store.article_state(f"chaos-{n:05d}") for n in accepted]
    applied = sum(1 for s in states if s is not None and s.applied >= 1)
    duplicates = sum(1 for s in states if s is not None and s.applied > 1)
    assert applied == len(accepted) and duplicates == 0, (applied, duplicates, len(accepted))
    return (
        f"events accepted: {len(accepted)}, applied: {applied}, duplicates: {duplicates}, "
        f"XADDs refused: {publisher.refused}, manual restarts: 0"
    )


def test_worker_that_keeps_dying_gives_up_with_a_failure_status(
    settings: Settings, config_dir: Path, tmp_path: Path
) -> None:
    """A worker whose Celery process dies at every start is restarted a bounded number of
    times, then `syndication worker` exits 1 (so an outer supervisor sees a failure)."""
    (config_dir / "channels.yaml").write_text("channels: [{name: broken}]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "syndication", "worker", "--max-restarts", "2"],
        env={**env_for(settings), "SYNDICATION_LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert output.count('"event": "worker.died"') == 2
    assert '"event": "worker.gave_up"' in output


def test_killing_the_supervisor_stops_its_celery_worker(
    settings: Settings, worker_factory: Callable[..., WorkerProcess]
) -> None:
    """SIGKILL of `syndication worker` alone leaves no Celery worker running unsupervised."""
    worker = worker_factory(settings, "-c", "1")
    assert worker.proc is not None
    celery = wait_until(lambda: _children(worker.proc.pid), message="Celery started")
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)
    assert isinstance(celery, list)
    wait_until(lambda: not any(_alive(pid) for pid in celery), message="Celery stopped")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing
