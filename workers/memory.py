"""The cyclic garbage collector, tuned for long-running workers.

A worker holds hundreds of thousands of long-lived objects (the imported libraries, the
parsed articles and feed items its caches keep), and CPython's full collection walks them
all: 50 to 150 ms during which the process answers nothing, every few seconds under load,
which is most of a render's latency budget. When a worker process is ready, everything it
holds by then is moved out of the collector's sight (``gc.freeze``; it is still freed by
reference counting) and the collector runs its older generations less often. Cycles are
still collected, only in fewer, smaller passes.
"""

from __future__ import annotations

import gc
from typing import Any

from celery.signals import worker_process_init, worker_ready

# Collections of the youngest generation after this many allocations (CPython: 700), of
# the middle one after this many of those (10), of the oldest after this many of those (10).
THRESHOLDS = (10_000, 20, 50)


def settle() -> None:
    """Freeze what the process holds now and space the collections out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@worker_ready.connect
def _worker_ready(**_: Any) -> None:
    settle()  # the worker's main process (with the solo pool, the one running tasks)


@worker_process_init.connect
def _worker_process_init(**_: Any) -> None:
    settle()  # each prefork child, once started
