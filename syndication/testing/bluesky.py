"""A local Bluesky PDS: sessions, post records under client-chosen rkeys, and blobs.

It speaks the XRPC subset the ``atproto`` client uses for posting (``/xrpc/<nsid>``):
createSession and refreshSession, createRecord, putRecord, getRecord and deleteRecord for
``app.bsky.feed.post``, and uploadBlob. Errors are XRPC bodies ``{"error", "message"}``.

It checks what a PDS checks and the adapter could get wrong: the rkey is a valid TID, a second
create under the same rkey fails (with a 500, as the reference PDS still answers, or the
409 ``RecordAlreadyExists`` it is adopting: :attr:`BlueskySandbox.duplicate_status`), facets
lie on UTF-8 character boundaries within the text, text is at most 300 graphemes and 3000
bytes, and a blob is at most 1,000,000 bytes. A post's ``id`` is its rkey.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import grapheme
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from syndication.testing.base import SandboxPost, SandboxServer, request_record

__all__ = ["BlueskySandbox", "make_cid"]

_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_COLLECTION = "app.bsky.feed.post"
BLOB_LIMIT = 1_000_000
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def make_cid(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256) in base32, as a PDS names records (dag-cbor) and blobs (raw 0x55)."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    bits = "".join(f"{byte:08b}" for byte in raw)
    bits += "0" * (-len(bits) % 5)
    return "b" + "".join(_B32[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(did: str, scope: str, lifetime: int) -> str:
    """An unsigned-looking JWT: the client only decodes it to read ``exp``."""
    now = int(time.time())
    header = _b64(json.dumps({"typ": "at+jwt", "alg": "ES256K"}).encode())
    payload = _b64(
        json.dumps({"scope": scope, "sub": did, "iat": now, "exp": now + lifetime}).encode()
    )
    return f"{header}.{payload}.{_b64(hashlib.sha256(payload.encode()).digest())}"


def _xrpc_error(error: str, message: str) -> dict[str, str]:
    return {"error": error, "message": message}


class BlueskySandbox(SandboxServer):
    """One account (``handle``, ``app_password``) on a PDS."""

    platform = "bluesky"

    # A fake app password the sandbox accepts; it grants nothing anywhere else.
    def __init__(
        self,
        handle: str = "news.sandbox.test",
        app_password: str = "abcd-efgh-ijkl-mnop",  # noqa: S107
        did: str = "did:plc:sandbox0000000000000000",
    ) -> None:
        super().__init__()
        self.handle = handle
        self.app_password = app_password
        self.did = did
        # 500 mimics today's reference PDS on a duplicate rkey; 409 its RecordAlreadyExists.
        self.duplicate_status = 500
        self.access_lifetime = 7200
        self._tokens: dict[str, str] = {}  # token -> "access" | "refresh"
        self._blobs: dict[str, bytes] = {}
        self._state_lock = threading.Lock()

    def routes(self) -> Sequence[BaseRoute]:
        """One route per XRPC method used."""
        return [Route("/xrpc/{nsid}", self._dispatch, methods=["GET", "POST"])]

    @property
    def blobs(self) -> dict[str, bytes]:
        """Uploaded blobs by CID."""
        with self._state_lock:
            return dict(self._blobs)

    def post_by_rkey(self, rkey: str) -> Any:
        """The live post with this rkey, or None."""
        post = self.get_post(rkey)
        return post if post is not None and not post.deleted else None

    def expire_tokens(self) -> None:
        """Invalidate every issued token, as a PDS does when a session is revoked."""
        with self._state_lock:
            self._tokens.clear()

    def rate_limit_next(self, retry_after: int = 30) -> None:
        """Answer the next request with the PDS's 429 and its ratelimit headers."""
        reset = int(time.time()) + retry_after
        self.fail_next(
            429,
            headers={
                "Retry-After": str(retry_after),
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "ratelimit-policy": "5000;w=3600",
            },
            body=_xrpc_error("RateLimitExceeded", "Rate Limit Exceeded"),
        )

    def default_headers(self, request: Request) -> Mapping[str, str]:
        """The PDS's write-points headers, fixed here."""
        return {
            "ratelimit-limit": "5000",
            "ratelimit-remaining": str(5000 - 3 * len(self.posts)),
            "ratelimit-reset": str(int(time.time()) + 3600),
            "ratelimit-policy": "5000;w=3600",
        }

    # -- dispatch ---------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> JSONResponse:
        nsid = request.path_params["nsid"]
        if nsid == "com.atproto.server.createSession":
            return self._create_session(request)
        if nsid == "com.atproto.server.refreshSession":
            return self._refresh_session(request)
        kind = self._token_kind(request)
        if kind != "access":
            return self.json(request, _xrpc_error("InvalidToken", "Bad token"), 401)
        handler = {
            "com.atproto.repo.createRecord": self._create_record,
            "com.atproto.repo.putRecord": self._put_record,
            "com.atproto.repo.getRecord": self._get_record,
            "com.atproto.repo.deleteRecord": self._delete_record,
            "com.atproto.repo.uploadBlob": self._upload_blob,
        }.get(nsid)
        if handler is None:
            return self.json(
                request, _xrpc_error("MethodNotImplemented", f"{nsid} not implemented"), 501
            )
        return handler(request)

    def _token_kind(self, request: Request) -> str | None:
        header = request_record(request).headers.get("authorization", "")
        with self._state_lock:
            return self._tokens.get(header.removeprefix("Bearer "))

    def _session_body(self) -> dict[str, Any]:
        access = _jwt(self.did, "com.atproto.appPass", self.access_lifetime)
        refresh = _jwt(self.did, "com.atproto.refresh", 90 * 86400)
        with self._state_lock:
            self._tokens[access] = "access"
            self._tokens[refresh] = "refresh"
        return {
            "did": self.did,
            "handle": self.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }

    def _create_session(self, request: Request) -> JSONResponse:
        body = request_record(request).json
        if (
            not isinstance(body, dict)
            or body.get("identifier") not in (self.handle, self.did)
            or body.get("password") != self.app_password
        ):
            return self.json(
                request,
                _xrpc_error("AuthenticationRequired", "Invalid identifier or password"),
                401,
            )
        return self.json(request, self._session_body())

    def _refresh_session(self, request: Request) -> JSONResponse:
        if self._token_kind(request) != "refresh":
            return self.json(request, _xrpc_error("ExpiredToken", "Token has expired"), 400)
        return self.json(request, self._session_body())

    # -- records ----------------------------------------------------------------------------

    def _uri(self, rkey: str) -> str:
        return f"at://{self.did}/{_COLLECTION}/{rkey}"

    def _check_record(self, body: Any) -> tuple[str, dict[str, Any]] | str:
        """The rkey and record of a write, or what is wrong with it."""
        if not isinstance(body, dict) or body.get("repo") not in (self.did, self.handle):
            return "repo: not this account"
        if body.get("collection") != _COLLECTION:
            return "collection: only app.bsky.feed.post is served"
        rkey = body.get("rkey")
        if not isinstance(rkey, str) or not _TID.fullmatch(rkey):
            return f"rkey: not a valid TID: {rkey!r}"
        record = body.get("record")
        if not isinstance(record, dict) or record.get("$type") != _COLLECTION:
            return "record/$type: must be app.bsky.feed.post"
        text = record.get("text", "")
        if not isinstance(text, str) or not record.get("createdAt"):
            return "record: text and createdAt are required"
        encoded = text.encode("utf-8")
        if len(encoded) > 3000 or grapheme.length(text) > 300:
            return "record/text: must not be longer than 300 graphemes"
        for facet in record.get("facets") or []:
            index = facet.get("index", {}) if isinstance(facet, dict) else {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
                return "record/facets: byteStart and byteEnd must be ordered integers"
            if end > len(encoded):
                return "record/facets: byteEnd past the end of the text"
            try:
                encoded[start:end].decode("utf-8")
            except UnicodeDecodeError:
                return "record/facets: slice does not fall on UTF-8 character boundaries"
        embed = record.get("embed")
        if isinstance(embed, dict) and embed.get("$type") == "app.bsky.embed.images":
            images = embed.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= 4:
                return "record/embed/images: one to four images"
            for image in images:
                if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                    return "record/embed/images/alt: required (may be empty)"
        langs = record.get("langs") or []
        if len(langs) > 3:
            return "record/langs: at most 3"
        return rkey, record

    def _create_record(self, request: Request) -> JSONResponse:
        checked = self._check_record(request_record(request).json)
        if isinstance(checked, str):
            return self.json(request, _xrpc_error("InvalidRequest", checked), 400)
        rkey, record = checked
        if self.post_by_rkey(rkey) is not None:
            if self.duplicate_status == 409:
                return self.json(
                    request,
                    _xrpc_error("RecordAlreadyExists", f"Record already exists: {self._uri(rkey)}"),
                    409,
                )
            return self.json(
                request, _xrpc_error("InternalServerError", "Internal Server Error"), 500
            )
        cid = make_cid(json.dumps(record, sort_keys=True).encode())
        self._store(rkey, record, cid)
        return self.json(
            request,
            {"uri": self._uri(rkey), "cid": cid, "validationStatus": "valid"},
        )

    def _store(self, rkey: str, record: dict[str, Any], cid: str) -> None:
        # Post ids are rkeys, so the base class's counter is bypassed under its own lock.
        with self._lock:
            existing = self._posts.get(rkey)
            if existing is not None and not existing.deleted:
                existing.edits.append(existing.text)
                existing.text = record["text"]
                existing.data.update(record=record, cid=cid)
                return
            self._posts[rkey] = SandboxPost(
                id=rkey,
                text=record["text"],
                created_at=time.time(),
                data={"record": record, "cid": cid},
            )

    def _put_record(self, request: Request) -> JSONResponse:
        body = request_record(request).json
        checked = self._check_record(body)
        if isinstance(checked, str):
            return self.json(request, _xrpc_error("InvalidRequest", checked), 400)
        rkey, record = checked
        if isinstance(body, dict) and "swapRecord" in body:
            # As the reference PDS: the write happens only if the record is still at the CID
            # the caller saw (null: only if there is no record); else 400 InvalidSwap.
            live = self.post_by_rkey(rkey)
            current = live.data["cid"] if live is not None else None
            if body["swapRecord"] != current:
                return self.json(
                    request,
                    _xrpc_error("InvalidSwap", f"Record was at {current}"),
                    400,
                )
        cid = make_cid(json.dumps(record, sort_keys=True).encode())
        self._store(rkey, record, cid)
        return self.json(request, {"uri": self._uri(rkey), "cid": cid})

    def _get_record(self, request: Request) -> JSONResponse:
        query = request_record(request).query
        rkey = query.get("rkey", "")
        post = self.post_by_rkey(rkey) if query.get("collection") == _COLLECTION else None
        if post is None:
            return self.json(
                request,
                _xrpc_error("RecordNotFound", f"Could not locate record: {self._uri(rkey)}"),
                400,
            )
        return self.json(
            request, {"uri": self._uri(rkey), "cid": post.data["cid"], "value": post.data["record"]}
        )

    def _delete_record(self, request: Request) -> JSONResponse:
        body = request_record(request).json
        rkey = body.get("rkey", "") if isinstance(body, dict) else ""
        # deleteRecord ensures the record is gone, so a missing one is success too.
        self.delete_post(rkey)
        return self.json(request, {})

    def _upload_blob(self, request: Request) -> JSONResponse:
        record = request_record(request)
        mime = record.headers.get("content-type", "")
        if len(record.body) > BLOB_LIMIT:
            return self.json(
                request,
                _xrpc_error("BlobTooLarge", f"This file is too large. Max is {BLOB_LIMIT} bytes"),
                400,
            )
        if not mime.startswith("image/"):
            return self.json(request, _xrpc_error("InvalidRequest", "blob must be an image"), 400)
        cid = make_cid(record.body, codec=0x55)
        with self._state_lock:
            self._blobs[cid] = record.body
        return self.json(
            request,
            {
                "blob": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": mime,
                    "size": len(record.body),
                }
            },
        )
