"""Start-up: how long a CLI command takes as a whole process, against ``celery --help``.

Run: ``python benchmarks/bench_startup.py``. Each command runs ``REPEAT`` times in a fresh
process (interleaved, so drift on the machine hits every command alike); the median wall time
is reported with its ratio to ``celery --help`` measured in the same run. ``status`` reads an
embedded Redis started here under a private prefix (empty, so the time is the start-up and
the round trips, not the data).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table

REPEAT = 9
BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``argv`` (output discarded; a failure raises)."""
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    """Time the commands and print the table."""
    from syndication.embedded import ensure_embedded, stop_embedded

    folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    url = os.environ.get("REDIS_URL") or ensure_embedded(folder / "redis")
    env = {
        **os.environ,
        "REDIS_URL": url,
        "SYNDICATION_PREFIX": "bench-startup",
        "SYNDICATION_CONFIG_PATH": str(Path(__file__).resolve().parent.parent / "config"),
        "SYNDICATION_DATA_DIR": str(folder / "data"),
    }
    commands = {
        "celery --help (baseline)": [str(BIN / "celery"), "--help"],
        "syndication --help": [str(BIN / "syndication"), "--help"],
        "syndication --version": [str(BIN / "syndication"), "--version"],
        "syndication status --json": [str(BIN / "syndication"), "status", "--json"],
        "syndication config check": [str(BIN / "syndication"), "config", "check"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for argv in commands.values():
            subprocess.run(argv, env=env, capture_output=True, check=False)  # warm the caches
        for _ in range(REPEAT):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    finally:
        if not os.environ.get("REDIS_URL"):
            stop_embedded(folder / "redis")
    base = statistics.median(times["celery --help (baseline)"])
    rows = [
        [name, f"{statistics.median(t) * 1000:.0f}", f"{statistics.median(t) / base:.2f}"]
        for name, t in times.items()
    ]
    print(table(rows, ["command (whole process)", "median ms", "x celery --help"]))
    print(f"median of {REPEAT} runs each; aim: syndication --help <= 0.5 x celery --help")


if __name__ == "__main__":
    main()
