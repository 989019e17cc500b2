"""Helpers for the federation tests: our app served on a real port (optionally over TLS,
as WebFinger requires https), federation config for it, and sandbox followers.

Import the fixtures a module needs (``from tests.fediverse_fixtures import fed_server``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
