"""The demo as a new user meets it: the commands it prints work pasted into a new shell, its
pages answer, Ctrl-C stops it, and nothing it started is left running."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from syndication.embedded import is_running, stop_embedded
from tests.conftest import ROOT, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _processes_of(data_dir: Path) -> list[int]:
    """Pids whose environment names ``data_dir`` (the demo's worker, pool, server)."""
    needle = f"SYNDICATION_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_demo_prints_commands_that_work_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    """Run the demo until it waits for Ctrl-C; paste what it prints into a new shell; fetch
    its pages; press Ctrl-C; then no process and no embedded Redis of it is left."""
    data = tmp_path / "data"
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_") and k != "REDIS_URL"
    }
    env["PYTHONUNBUFFERED"] = "1"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syndication",
            "--data-dir",
            str(data),
            "demo",
            "--keep-running",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(demo.stdout.readline, "")))
    reader.start()
    try:
        wait_until(lambda: any("Press Ctrl-C" in line for line in lines), timeout=150)
        output = "".join(lines)
        assert "the prefix synd-demo" in output and "demo-webhook-secret" in output
        block = output.split("In another shell, in this folder:\n", 1)[1]
        commands = [line.strip() for line in block.splitlines() if line.startswith("  ")]
        assert commands[0] == f". {data / 'demo.env'}"
        assert "bin/syndication channels check" in commands
        shell = subprocess.run(
            ["bash", "-c", "set -e\n" + "\n".join(commands)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shell.returncode == 0, shell.stdout + shell.stderr
        checked = shell.stdout.split("channel\tok\taccount / error\n", 1)[1].splitlines()[:7]
        assert all(row.split("\t")[1] == "yes" for row in checked), checked
        assert "prefix synd-demo" in shell.stdout  # status says what it reads
        pages = re.search(r"Pages: (\S+) \(every feed\) and (\S+) \(operators\)", output)
        assert pages is not None
        for url in pages.groups():
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                assert response.status == 200
                assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
    finally:
        if demo.poll() is None:
            # A failed assertion above: stop the demo and what it started (its children run
            # in sessions of their own, so killing the demo alone would leave them).
            demo.kill()
            demo.wait()
            for pid in _processes_of(data):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            stop_embedded(data)
        reader.join(timeout=10)
    output = "".join(lines)
    assert "stopping the worker and beat" in output
    assert "stopped everything the demo started" in output
    assert not is_running(data)
    wait_until(lambda: not _processes_of(data), timeout=10, message="demo processes gone")
    # A command that only reads says the embedded Redis is not running, and leaves it so.
    after = subprocess.run(
        ["bash", "-c", f". {data / 'demo.env'} && bin/syndication status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 1 and "is not running" in after.stderr
    assert not is_running(data)
