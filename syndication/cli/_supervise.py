"""Keep a long-running process (the Celery worker, beat) up: restart it when it dies.

``syndication worker`` and ``syndication beat`` run Celery in a child process and wait for it.
A child that exits when nobody asked it to stop (Celery's consumer died on a connection loss,
an unrecoverable error, a crash) is started again after a short, growing delay. More than
``max_restarts`` restarts within ``window`` seconds means something is persistently wrong: the
supervisor then gives up and exits non-zero, so that an outer supervisor (systemd, Kubernetes)
sees a failure rather than a clean stop.

SIGTERM, SIGINT and SIGQUIT are passed on to the child and mean "stop": the supervisor waits
for the child and exits with its status.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

import structlog

log = structlog.get_logger(__name__)

# Exit status when the supervisor gives up (the CLI's "something failed").
GAVE_UP = 1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_MAX_DELAY = 30.0
_PR_SET_PDEATHSIG = 1


@dataclass
class RestartPolicy:
    """At most ``max_restarts`` restarts within any ``window`` seconds; delays that double.

    Pure: the caller passes the clock.
    """

    max_restarts: int = 5
    window: float = 300.0
    _restarts: deque[float] = field(default_factory=deque, repr=False)

    def recent(self, now: float) -> int:
        """Restarts within the window ending at ``now``."""
        while self._restarts and now - self._restarts[0] > self.window:
            self._restarts.popleft()
        return len(self._restarts)

    def allow(self, now: float) -> bool:
        """Record a restart at ``now``; False when it would exceed the limit (give up)."""
        if self.recent(now) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True

    def delay(self, now: float) -> float:
        """Seconds to wait before the restart just allowed: 1, 2, 4, ... up to 30."""
        return float(min(_MAX_DELAY, 2 ** max(0, self.recent(now) - 1)))


def exit_status(returncode: int) -> int:
    """A shell-style exit status for a child's return code (killed by signal N: 128 + N)."""
    return returncode if returncode >= 0 else 128 - returncode


def _terminal_sent_it(signum: int) -> bool:
    """Whether a Ctrl-C on our terminal already reached the child (same foreground group).

    Celery treats a second SIGINT as "terminate now", so a Ctrl-C must reach it only once.
    """
    if signum != signal.SIGINT:
        return False
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def _stop_with_parent() -> None:
    """Runs in the child between fork and exec: Linux sends it SIGTERM (a warm shutdown) if
    the supervisor dies, even by SIGKILL, so that no Celery process outlives it unwatched."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    policy: RestartPolicy,
) -> int:
    """Run ``argv`` as a child process, restarting it per ``policy``; return an exit status.

    Args:
        name: What the child is (``worker``, ``beat``), for the log lines.
    """
    stop_signal: int | None = None
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_signal
        stop_signal = signum
        if child is not None and child.poll() is None and not _terminal_sent_it(signum):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in _STOP_SIGNALS}
    try:
        restarts = 0
        while True:
            child = subprocess.Popen(list(argv), env=dict(env), preexec_fn=_stop_with_parent)
            if stop_signal is not None and child.poll() is None:
                child.send_signal(stop_signal)  # the stop request came while it was starting
            returncode = child.wait()
            code = exit_status(returncode)
            if stop_signal is not None:
                # Ended by the very signal that asked it to stop (a signal sent to the whole
                # process group reaches it twice, and the second may find the default
                # handler back in place): that is the stop that was asked for.
                return 0 if returncode == -stop_signal else code
            now = time.monotonic()
            if not policy.allow(now):
                log.error(
                    f"{name}.gave_up",
                    status=code,
                    restarts=restarts,
                    max_restarts=policy.max_restarts,
                    window=policy.window,
                )
                return GAVE_UP
            restarts += 1
            delay = policy.delay(now)
            log.warning(f"{name}.died", status=code, restart=restarts, delay=delay)
            deadline = now + delay
            while stop_signal is None and time.monotonic() < deadline:
                time.sleep(0.1)  # short naps, so that a stop request is seen promptly
            if stop_signal is not None:
                return code
            log.info(f"{name}.restarted", restart=restarts)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
