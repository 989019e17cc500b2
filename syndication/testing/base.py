"""Shared machinery for the local platform sandboxes.

A sandbox is a small Starlette app that speaks the subset of one platform's API that the real
client library uses, served by uvicorn on ``127.0.0.1`` (port 0 by default) in a background
thread. Tests and ``make demo`` point the real client (tweepy, Mastodon.py, httpx) at
:attr:`SandboxServer.base_url`.

A platform sandbox subclasses :class:`SandboxServer` and implements :meth:`~SandboxServer.routes`;
its handlers keep posts with :meth:`~SandboxServer.add_post` and friends. Everything else is
generic:

* every request is recorded (:attr:`SandboxServer.requests`, a :class:`RecordedRequest` each),
  including requests answered by an injected fault;
* posts live in memory (:attr:`SandboxServer.posts`, id → :class:`SandboxPost`) with a deleted
  flag and the list of earlier texts;
* faults are queued and consumed by the next matching request, in order:
  :meth:`~SandboxServer.fail_next` answers with a status, headers and body,
  :meth:`~SandboxServer.drop_next` closes the connection without a response,
  :meth:`~SandboxServer.delay_next` waits before handling (for client read timeouts), and
  :meth:`~SandboxServer.drop_after_next_post` lets the handler create the post and then closes the
  connection without a response: the crash window between "accepted" and "recorded".

Usage::

    with XSandbox() as sandbox:
        sandbox.fail_next(status=503)
        client = make_client(sandbox.base_url)
        ...
        assert len(sandbox.live_posts()) == 1
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syndication.testing.recording import (
    FaultKind,
    RecordedRequest,
    UploadedFile,
    parse_body,
    request_record,
)

__all__ = [
    "FaultKind",
    "JSONResponse",
    "RateWindow",
    "RecordedRequest",
    "SandboxPost",
    "SandboxServer",
    "UploadedFile",
    "request_record",
    "serving",
]


@dataclass
class SandboxPost:
    """A post the sandbox holds; platform-specific fields go in ``data``."""

    id: str
    text: str
    created_at: float
    data: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    deleted: bool = False
    # Earlier texts, oldest first; the current text is ``text``.
    edits: list[str] = field(default_factory=list)


class RateWindow:
    """A fixed-window request counter, for the rate-limit headers a sandbox reports.

    The sandbox only reports the counts by default; with ``enforce=True`` a request past the
    limit should be answered 429 by the handler (see :meth:`hit`).
    """

    def __init__(self, limit: int, window: float, *, enforce: bool = False) -> None:
        self.limit = limit
        self.window = window
        self.enforce = enforce
        self._lock = threading.Lock()
        self._reset_at = time.time() + window
        self._used = 0

    def hit(self) -> tuple[int, int, float, bool]:
        """Count one request; return (limit, remaining, reset_at Unix time, allowed)."""
        with self._lock:
            now = time.time()
            if now >= self._reset_at:
                self._reset_at, self._used = now + self.window, 0
            self._used += 1
            remaining = max(0, self.limit - self._used)
            allowed = not self.enforce or self._used <= self.limit
            return self.limit, remaining, self._reset_at, allowed


@dataclass
class _Fault:
    kind: FaultKind
    method: str | None
    path: str | None
    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path.startswith(self.path)


def _drop_connection(receive: Receive) -> bool:
    """Close the client's connection without sending anything; False if uvicorn hides it.

    ASGI has no "hang up" event: an app that returns without a response gets a 500 from the
    server. uvicorn's ``receive`` is a bound method of its request cycle, which holds the
    socket transport; closing it and marking the cycle disconnected makes uvicorn skip its 500.
    The server is pinned to the h11 implementation, whose cycle has both attributes.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if cycle is None or not isinstance(transport, asyncio.Transport):
        return False
    cycle.disconnected = True
    transport.close()
    return True


class _SandboxMiddleware:
    """Records each request, then applies the next matching fault or calls the app."""

    def __init__(self, app: ASGIApp, server: SandboxServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), True))
        parsed_json, pairs, files = parse_body(headers, bytes(body))
        fault = self.server._take_fault(method, path)
        record = RecordedRequest(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=bytes(body),
            json=parsed_json,
            form=dict(pairs),
            files=files,
            fault=fault.kind if fault else None,
            form_pairs=tuple(pairs),
        )
        self.server._record(record)
        scope["sandbox.record"] = record

        replayed = False

        async def replay() -> Message:
            # Handlers read the body already drained above; later calls wait for disconnect.
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        if fault is None:
            await self.app(scope, replay, send)
        elif fault.kind == "fail":
            response = _fault_response(fault)
            await response(scope, replay, send)
        elif fault.kind == "drop":
            if not _drop_connection(receive):
                raise RuntimeError("sandbox: cannot drop the connection on this server")
        elif fault.kind == "delay":
            # Sleep in short steps so stop() need not wait out (or cancel) a long delay.
            deadline = time.monotonic() + fault.seconds
            while time.monotonic() < deadline:
                if self.server._stopping.is_set():
                    _drop_connection(receive)
                    return
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            await self.app(scope, replay, send)
        else:  # drop_after: the handler runs to completion; its response is discarded.

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, replay, swallow)
            if not _drop_connection(receive):
                raise RuntimeError("sandbox: cannot drop the connection on this server")


def _fault_response(fault: _Fault) -> Response:
    if fault.body is None or isinstance(fault.body, bytes | str):
        return Response(fault.body or b"", status_code=fault.status, headers=dict(fault.headers))
    return JSONResponse(fault.body, status_code=fault.status, headers=dict(fault.headers))


class SandboxServer:
    """A platform sandbox served by uvicorn in a background thread.

    Subclasses implement :meth:`routes` (and may override :meth:`default_headers` to add, say,
    rate-limit headers to every response). ``start()`` returns the base URL; ``stop()`` shuts the
    server down; the server is also a context manager. All state accessors are thread-safe.
    """

    #: Short platform name, used in messages and thread names.
    platform: str = "sandbox"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._posts: dict[str, SandboxPost] = {}
        self._faults: deque[_Fault] = deque()
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None
        self._stopping = threading.Event()

    # -- to implement -------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The Starlette routes of this platform's API subset."""
        raise NotImplementedError

    def default_headers(self, request: Request) -> Mapping[str, str]:
        """Headers added to every response the handlers build (not to injected faults)."""
        return {}

    # -- lifecycle ----------------------------------------------------------------------------

    def app(self) -> ASGIApp:
        """The ASGI app: the platform's routes behind the recording and fault middleware."""
        starlette = Starlette(routes=list(self.routes()))
        return _SandboxMiddleware(starlette, self)

    def start(self, timeout: float = 10.0) -> str:
        """Serve in a background thread; return the base URL once it accepts connections."""
        if self._server is not None:
            raise RuntimeError(f"{self.platform} sandbox: already started")
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            # h11 is pinned because _drop_connection relies on its request cycle.
            http="h11",
            lifespan="off",
            log_level="warning",
            access_log=False,
            # Delayed requests must not hold up stop() for long.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"sandbox-{self.platform}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._server = self._thread = None
                raise RuntimeError(f"{self.platform} sandbox: server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self._base_url = f"http://{self.host}:{port}"
        return self._base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for its thread; state (requests, posts) is kept."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.should_exit = True
        thread.join(timeout)
        self._stopping.clear()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        if self._base_url is None:
            raise RuntimeError(f"{self.platform} sandbox: not started")
        return self._base_url

    # -- faults -------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``, ``headers``, ``body``.

        ``body`` may be bytes, a string, or anything JSON-serialisable. ``method`` and ``path``
        (a prefix) restrict which requests the fault applies to; by default, any request.
        """
        self._add_faults(
            count,
            _Fault("fail", method, path, status=status, headers=dict(headers or {}), body=body),
        )

    def drop_next(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Close the connection of the next matching request without handling it."""
        self._add_faults(count, _Fault("drop", method, path))

    def delay_next(
        self, seconds: float, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Wait ``seconds`` before handling the next matching request (it is still handled)."""
        self._add_faults(count, _Fault("delay", method, path, seconds=seconds))

    def drop_after_next_post(self, *, path: str | None = None) -> None:
        """Handle the next POST in full (the post is created), then hang up without a response."""
        self._add_faults(1, _Fault("drop_after", "POST", path))

    def clear_faults(self) -> None:
        """Forget every fault not yet consumed."""
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        """How many injected faults have not been consumed yet."""
        with self._lock:
            return len(self._faults)

    def _add_faults(self, count: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend(fault for _ in range(count))

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    self._faults.remove(fault)
                    return fault
        return None

    # -- requests -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method whose path starts with ``path``."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    # -- posts --------------------------------------------------------------------------------

    @property
    def posts(self) -> dict[str, SandboxPost]:
        """A copy of the id → post mapping, deleted posts included."""
        with self._lock:
            return dict(self._posts)

    def live_posts(self) -> list[SandboxPost]:
        """Posts not deleted, oldest first."""
        with self._lock:
            return [p for p in self._posts.values() if not p.deleted]

    def next_id(self) -> str:
        """A fresh post id; override for platform-shaped ids."""
        return str(next(self._ids))

    def add_post(
        self, text: str, *, idempotency_key: str | None = None, **data: Any
    ) -> SandboxPost:
        """Create and keep a post, as a handler does when the platform accepts one."""
        with self._lock:
            post = SandboxPost(
                id=self.next_id(),
                text=text,
                created_at=time.time(),
                data=dict(data),
                idempotency_key=idempotency_key,
            )
            self._posts[post.id] = post
            return post

    def get_post(self, post_id: str) -> SandboxPost | None:
        """The post with this id, deleted or not."""
        with self._lock:
            return self._posts.get(post_id)

    def find_post(self, predicate: Callable[[SandboxPost], bool]) -> SandboxPost | None:
        """The most recent live post for which ``predicate`` is true."""
        with self._lock:
            for post in reversed(self._posts.values()):
                if not post.deleted and predicate(post):
                    return post
        return None

    def edit_post(self, post_id: str, text: str, **data: Any) -> SandboxPost | None:
        """Replace a live post's text, keeping the old one in ``edits``; None if absent."""
        with self._lock:
            post = self._posts.get(post_id)
            if post is None or post.deleted:
                return None
            post.edits.append(post.text)
            post.text = text
            post.data.update(data)
            return post

    def delete_post(self, post_id: str) -> SandboxPost | None:
        """Mark a live post deleted; None if it is absent or already deleted."""
        with self._lock:
            post = self._posts.get(post_id)
            if post is None or post.deleted:
                return None
            post.deleted = True
            return post

    def iter_posts(self) -> Iterator[SandboxPost]:
        """Snapshot iteration over all posts, oldest first."""
        return iter(self.posts.values())

    # -- helpers for handlers -----------------------------------------------------------------

    def json(
        self,
        request: Request,
        content: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        """A JSON response carrying :meth:`default_headers` plus ``headers``."""
        merged = dict(self.default_headers(request))
        merged.update(headers or {})
        return JSONResponse(content, status_code=status, headers=merged)


@contextlib.contextmanager
def serving(server: SandboxServer) -> Iterator[str]:
    """Run ``server`` for the duration of a ``with`` block and yield its base URL."""
    base_url = server.start()
    try:
        yield base_url
    finally:
        server.stop()
