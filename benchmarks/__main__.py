"""``python -m benchmarks`` (``make bench``): run every ``benchmarks/bench_*.py`` in turn.

Each module's ``main()`` runs in a subprocess of its own (so one that crashes, hangs or
configures logging cannot affect the next) and prints its own table. A failure is reported
and the remaining benchmarks still run; the exit status is 1 if any failed.

``python -m benchmarks pipeline feeds_scale`` runs only those; ``--list`` shows the names.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The order they run in; any other bench_*.py follows, alphabetically.
ORDER = ("render", "serve", "pipeline", "feeds_scale", "posts")
# A benchmark still running after this long is interrupted (its cleanup runs), then killed.
TIMEOUT = 360.0
GRACE = 30.0


def discover() -> list[str]:
    """The benchmark names (``bench_<name>.py``) present, in running order."""
    found = {p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py")}
    first = [n for n in ORDER if n in found]
    return first + sorted(found - set(first))


def run_one(name: str, timeout: float) -> tuple[bool, str]:
    """Run ``benchmarks.bench_<name>.main()`` in a subprocess; (ok, why not)."""
    code = (
        f"import sys; import benchmarks.bench_{name} as m; "
        f"sys.argv = ['benchmarks/bench_{name}.py']; m.main()"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        # SIGINT first: the benchmark's ``finally`` blocks stop its workers and its Redis.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return False, f"timed out after {timeout:.0f}s"
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    return (True, "") if rc == 0 else (False, f"exit status {rc}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks asked for (all by default); return the exit status."""
    names = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("only", nargs="*", help=f"benchmarks to run (of: {', '.join(names)})")
    parser.add_argument("--list", action="store_true", help="print the names and exit")
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT, help="seconds allowed per benchmark"
    )
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(names))
        return 0
    unknown = [n for n in args.only if n.removeprefix("bench_") not in names]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (have: {', '.join(names)})")
    selected = [n.removeprefix("bench_") for n in args.only] or names
    results: list[tuple[str, bool, str, float]] = []
    for name in selected:
        print(f"\n=== bench_{name} ===", flush=True)
        started = time.monotonic()
        ok, why = run_one(name, args.timeout)
        seconds = time.monotonic() - started
        if not ok:
            print(f"!!! bench_{name} FAILED: {why}", flush=True)
        results.append((name, ok, why, seconds))
    print("\n=== summary ===")
    for name, ok, why, seconds in results:
        print(f"bench_{name:<14} {'ok' if ok else 'FAILED (' + why + ')':<28} {seconds:6.1f}s")
    return 0 if all(ok for _, ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
