"""``serve`` requests/s for a 200 and a 304 against a bare ASGI app holding the same bytes.

Run: ``python benchmarks/bench_serve.py`` (``REDIS_URL`` to use a server; otherwise an
embedded Redis in a temporary folder). It stores 50 articles, renders ``/feeds/vi/all.rss``
with the real renderer, then starts two uvicorn servers in their own processes: the real app
(``create_app``, default freshness TTL) and a bare ASGI callable that answers every request
with the same bytes from memory. A small keep-alive socket client (several connections, a
fixed number of requests each) drives both in the same run, so the ratio does not depend on
the machine. The client is plain sockets rather than httpx so that it is not the bottleneck.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
PATH = "/feeds/vi/all.rss"
CONNECTIONS = 4
REQUESTS = 2_000  # per connection and case
WARMUP = 200


def make_event(n: int) -> dict[str, Any]:
    """A realistic published event: a few paragraphs, tags, an author, a lead image."""
    start = datetime(2025, 8, 24, 8, 0, tzinfo=UTC)
    body = "".join(
        f"<p>Đoạn {i} của bài {n}: Hội An đón du khách &amp; 観光客.</p>" for i in range(8)
    )
    return {
        "id": f"bench-evt-{n}",
        "type": "article.published",
        "occurred_at": (start + timedelta(minutes=n)).isoformat(),
        "article": {
            "id": f"bench-art-{n}",
            "url": f"https://portal.example/vi/bai-{n}",
            "language": "vi",
            "title": f"Bài số {n}: Di sản văn hóa Việt Nam",
            "summary": f"Tóm tắt bài {n}.",
            "content_html": body,
            "category": "heritage",
            "tags": ["du-lich"],
            "authors": [{"name": "Nguyễn Văn Đức"}],
            "image": {"url": f"https://portal.example/img/{n}.jpg", "type": "image/jpeg"},
            "published_at": (start + timedelta(minutes=n)).isoformat(),
        },
    }


def prepare(settings: Any) -> Any:
    """Store 50 articles and render the feed; return the stored document."""
    from feeds.catalog import FeedRef, feed_indexer
    from feeds.storage import FeedStorage
    from syndication.config import load_config
    from syndication.connection import connect
    from syndication.events import parse_event
    from syndication.ingest import feed_ids_for
    from syndication.keys import Keys
    from syndication.store import Store

    config = load_config(settings.config_path)
    store = Store(connect(settings), Keys(settings.prefix))
    for n in range(50):
        parsed = parse_event(make_event(n))
        store.apply_event(parsed, feed_ids_for(parsed, feed_indexer(config.feeds)))
    storage = FeedStorage(store)
    storage.render(FeedRef("vi", "all"), config.feeds)
    return storage.get(PATH)


def run_server(kind: str, port: int, env: dict[str, str]) -> None:
    """Process target: the real app or the bare one under uvicorn on ``port``."""
    os.environ.update(env)
    import uvicorn

    if kind == "app":
        from syndication.config import load_config
        from syndication.server import create_app
        from syndication.settings import Settings

        settings = Settings()
        asgi: Any = create_app(settings, load_config(settings.config_path))
    else:
        asgi = bare_app(env)
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bare_app(env: dict[str, str]) -> Any:
    """The baseline: an ASGI callable that answers with bytes it already holds."""
    from feeds.documents import DocumentStore
    from syndication.connection import connect
    from syndication.keys import Keys
    from syndication.settings import Settings
    from syndication.store import Store

    settings = Settings()
    doc = DocumentStore(Store(connect(settings), Keys(settings.prefix))).get(PATH)
    assert doc is not None
    etag = doc.etag.encode()
    headers = [
        (b"content-type", doc.content_type.encode()),
        (b"etag", etag),
        (b"cache-control", b"public, max-age=60"),
        (b"vary", b"Accept-Encoding"),
        (b"content-encoding", b"gzip"),
        (b"content-length", str(len(doc.gzip)).encode()),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        inm = dict(scope["headers"]).get(b"if-none-match")
        if inm is not None and inm.removeprefix(b"W/") == etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers[1:4]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": doc.gzip})

    return app


def free_port() -> int:
    """A port the kernel says is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(port: int, deadline: float = 30.0) -> None:
    """Block until something accepts connections on ``port``."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {deadline} s")


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP/1.1 response from a keep-alive socket; return its status code."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    header_end = len(head) + 4
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < header_end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    status = int(head.split(b" ", 2)[1])
    del buffer[: header_end + length]
    return status


def drive(port: int, request: bytes, expect: int, per_connection: int) -> float:
    """Requests/s over ``CONNECTIONS`` keep-alive connections, each sending one at a time."""
    errors: list[str] = []

    def client(count: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = bytearray()
            for _ in range(count):
                sock.sendall(request)
                status = _read_response(sock, buffer)
                if status != expect:
                    errors.append(f"got {status}, expected {expect}")
                    return

    for _ in range(2):  # warm up: caches filled, connections and code paths hot
        client(WARMUP // 2)
    threads = [threading.Thread(target=client, args=(per_connection,)) for _ in range(CONNECTIONS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(errors[0])
    return CONNECTIONS * per_connection / elapsed


def main() -> None:
    """Prepare the document, start both servers, measure, print the table, stop."""
    from syndication.embedded import ensure_embedded, stop_embedded
    from syndication.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    url = os.environ.get("REDIS_URL") or ensure_embedded(tmp / "redis")
    prefix = f"bench-serve-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        redis_url=url, prefix=prefix, config_path=ROOT / "config", data_dir=tmp / "data"
    )
    env = settings.to_env()
    doc = prepare(settings)
    assert doc is not None
    spawn = multiprocessing.get_context("spawn")
    ports = {"app": free_port(), "bare": free_port()}
    procs = [
        spawn.Process(target=run_server, args=(k, p, env), daemon=True) for k, p in ports.items()
    ]
    for proc in procs:
        proc.start()
    try:
        for port in ports.values():
            wait_for(port)
        base = f"GET {PATH} HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n"
        cases = {
            "200 (gzip)": ((base + "\r\n").encode(), 200),
            "304 (If-None-Match)": ((base + f"If-None-Match: {doc.etag}\r\n\r\n").encode(), 304),
        }
        print(
            f"document {PATH}: {len(doc.body)} bytes, {len(doc.gzip)} gzipped; "
            f"{CONNECTIONS} connections x {REQUESTS} requests per case",
            file=sys.stderr,
        )
        rows = []
        for name, (request, status) in cases.items():
            app = drive(ports["app"], request, status, REQUESTS)
            bare = drive(ports["bare"], request, status, REQUESTS)
            rows.append((name, app, bare))
        print(f"{'case':<22}{'serve req/s':>14}{'bare req/s':>14}{'ratio':>8}")
        for name, app, bare in rows:
            print(f"{name:<22}{app:>14,.0f}{bare:>14,.0f}{app / bare:>8.2f}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)
        from syndication.connection import connect

        client = connect(settings)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        if not os.environ.get("REDIS_URL"):
            stop_embedded(tmp / "redis")


if __name__ == "__main__":
    main()
