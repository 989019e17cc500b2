"""Heartbeats: workers and beat record that they are alive, for ``/readyz`` and ``status``.

A daemon thread in the worker's main process (and in beat) writes ``name -> unix time`` into
``Keys.heartbeat(role)`` every few seconds. A process that dies simply stops updating.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

from celery.signals import beat_init, worker_ready

from syndication.ops import Ops
from workers.runtime import runtime

INTERVAL = 10.0


def _beat(app: Any, role: str) -> None:
    ops = Ops(runtime(app).store)
    name = f"{socket.gethostname()}-{os.getpid()}"

    def loop() -> None:
        while True:
            # A missed beat (Redis briefly away) must never kill the process.
            with contextlib.suppress(Exception):
                ops.beat(role, name, time.time())
            time.sleep(INTERVAL)

    threading.Thread(target=loop, name=f"{role}-heartbeat", daemon=True).start()


@worker_ready.connect
def _worker_ready(sender: Any = None, **_: Any) -> None:
    _beat(sender.app, "worker")


@beat_init.connect
def _beat_init(sender: Any = None, **_: Any) -> None:
    _beat(sender.app, "beat")
