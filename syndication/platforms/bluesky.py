"""Bluesky posts through the ``atproto`` client, with deterministic record keys.

A post is an ``app.bsky.feed.post`` record created with ``com.atproto.repo.createRecord``.
Its record key is a TID derived from the post's idempotency key, chosen before the first
call: a retry creates the same rkey, which the PDS refuses, and :meth:`BlueskyAdapter.post`
then reads the record back with ``getRecord`` and reports it as sent. So a retry can never
post twice, and the adapter is ``idempotent``.

Links and hashtags are not markup in Bluesky text: they are facets addressed by UTF-8 byte
offsets (``byteStart`` inclusive, ``byteEnd`` exclusive), computed by :func:`find_facets`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, TypeVar

import httpx
import structlog
from atproto import Client, models
from atproto_client.exceptions import (
    NetworkError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError
from PIL import Image

from syndication.errors import (
    ConfigError,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost, PostResult, RateInfo
from syndication.platforms.bluesky_text import Facet, find_facets, tid_for_key
from syndication.platforms.media import FetchedImage, MediaError, fit_image

__all__ = ["BLOB_LIMIT", "BlueskyAdapter", "Facet", "find_facets", "tid_for_key"]

log = structlog.get_logger()
_T = TypeVar("_T")

_DEFAULT_BASE_URL = "https://bsky.social"
_COLLECTION = "app.bsky.feed.post"
# The lexicons cap image blobs at 1,000,000 bytes; stay under the often-quoted 976 KiB.
BLOB_LIMIT = 976 * 1024
_THUMB_MAX_DIM = 2000
_DEFAULT_RETRY_AFTER = 60.0
# Errors meaning the session is unusable for good, as opposed to merely expired.
_PERMANENT_AUTH = frozenset({"AuthenticationRequired", "AccountTakedown", "InvalidToken"})


def _to_model(facet: Facet) -> models.AppBskyRichtextFacet.Main:
    feature: models.AppBskyRichtextFacet.Link | models.AppBskyRichtextFacet.Tag
    if facet.kind == "link":
        feature = models.AppBskyRichtextFacet.Link(uri=facet.value)
    else:
        feature = models.AppBskyRichtextFacet.Tag(tag=facet.value)
    return models.AppBskyRichtextFacet.Main(
        index=models.AppBskyRichtextFacet.ByteSlice(
            byte_start=facet.byte_start, byte_end=facet.byte_end
        ),
        features=[feature],
    )


# atproto ships no type information for its request class, so mypy sees it as Any.
class _RecordingRequest(Request):  # type: ignore[misc]
    """atproto's HTTP layer, remembering the headers of the last successful response.

    The client's typed methods return models only; the rate-limit headers are read here.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.last_headers: Mapping[str, str] = {}

    def _send_request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        # atproto hands raw blob bytes to httpx as ``data=``, which httpx deprecates (and our
        # test run treats warnings as errors); ``content=`` is the same request.
        if isinstance(kwargs.get("data"), bytes):
            kwargs["content"] = kwargs.pop("data")
        response: httpx.Response = super()._send_request(method, url, **kwargs)
        self.last_headers = dict(response.headers)
        return response


@dataclass(frozen=True)
class _Existing:
    """A record found under an rkey: its text, to tell ours from a stranger's, and its CID,
    to guard a write with ``swapRecord``."""

    text: str
    result: PostResult
    cid: str | None = None


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    return int(value) if value is not None and value.isdigit() else None


class BlueskyAdapter:
    """One Bluesky account, signed in with an app password.

    Credentials: ``handle``, ``app_password``. Options: none (``base_url`` is the PDS).
    """

    name: ClassVar[str] = "bluesky"
    idempotent: ClassVar[bool] = True
    can_edit: ClassVar[bool] = True

    def __init__(self, settings: AdapterSettings) -> None:
        handle = settings.credentials.get("handle", "")
        password = settings.credentials.get("app_password", "")
        if not handle:
            raise PermanentError("bluesky", "credentials.handle: missing")
        if not password:
            raise PermanentError("bluesky", "credentials.app_password: missing")
        self._handle = handle
        self._password = password
        self._request = _RecordingRequest(timeout=settings.timeout)
        self._client = Client(
            base_url=settings.base_url or _DEFAULT_BASE_URL, request=self._request
        )
        self._did: str | None = None
        self._rate = RateInfo()
        embed = settings.options.get("embed", "card")
        if embed not in ("card", "photo"):
            raise ConfigError(f"options.embed: expected 'card' or 'photo', not {embed!r}")
        self._embed_kind = embed

    def __repr__(self) -> str:
        return f"BlueskyAdapter(handle={self._handle!r})"

    # -- the Protocol ---------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Create the post under its deterministic rkey; an existing record means it is sent."""
        did = self._login()
        rkey = tid_for_key(post.idempotency_key)
        record = self._record(post)
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=did, collection=_COLLECTION, rkey=rkey, record=record, validate_=True
        )
        try:
            created = self._call(
                "createRecord",
                lambda: self._client.com.atproto.repo.create_record(data),
                writes=True,
            )
        except RateLimited:
            raise
        except PlatformError as exc:
            # A second create under the same rkey fails: the reference PDS answers 500
            # (bluesky-social/atproto#3718), newer ones 409 RecordAlreadyExists. A lost
            # answer looks the same. Either way, ask for the record: if it is there, the
            # post is out. Reading is not re-sending, so this is no retry.
            if exc.status in (401, 403):
                raise
            try:
                existing = self._get(rkey)
            except PlatformError:
                raise exc from None
            if existing is None:
                raise
            # The rkey is derived from this post's own key, so the record is ours: an earlier
            # attempt, perhaps carrying the text before an update (then it is edited after).
            return replace(existing.result, stale=existing.text != post.text)
        return PostResult(remote_id=rkey, url=self._web_url(created.uri))

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace the record under ``remote_id`` (its rkey) with the post's new text.

        ``putRecord`` creates a record that is not there, so an edit that raced a delete
        would bring a retracted story back. The current record is read first and the write is
        guarded with ``swapRecord`` (its CID): a record deleted before or during the edit stays
        deleted, and the edit fails with :class:`PermanentError`.
        """
        did = self._login()
        current = self._get(remote_id)
        if current is None:
            raise PermanentError(
                "bluesky", f"putRecord: record {remote_id} is gone; not re-created"
            )
        record = self._record(post)
        data = models.ComAtprotoRepoPutRecord.Data(
            repo=did,
            collection=_COLLECTION,
            rkey=remote_id,
            record=record,
            validate_=True,
            swap_record=current.cid,
        )
        try:
            put = self._call(
                "putRecord", lambda: self._client.com.atproto.repo.put_record(data), writes=False
            )
        except PermanentError as exc:
            if "InvalidSwap" in str(exc) or exc.status == 400:
                raise PermanentError(
                    "bluesky", f"putRecord: record {remote_id} changed or is gone; not re-created"
                ) from None
            raise
        return PostResult(remote_id=remote_id, url=self._web_url(put.uri))

    def delete(self, remote_id: str) -> None:
        """Delete the record; deleting a missing record succeeds on the PDS too."""
        did = self._login()
        data = models.ComAtprotoRepoDeleteRecord.Data(
            repo=did, collection=_COLLECTION, rkey=remote_id
        )
        self._call(
            "deleteRecord", lambda: self._client.com.atproto.repo.delete_record(data), writes=False
        )

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Ask ``getRecord`` whether the post's rkey exists."""
        self._login()
        existing = self._get(tid_for_key(post.idempotency_key))
        return existing.result if existing is not None else None

    def verify(self) -> str:
        """Sign in and return the account's handle."""
        self._login()
        return self._handle

    def rate_info(self) -> RateInfo:
        """From the ``ratelimit-*`` headers of the last response."""
        headers = self._request.last_headers
        limit = _header_int(headers, "ratelimit-limit")
        if limit is not None:
            reset = _header_int(headers, "ratelimit-reset")
            self._rate = RateInfo(
                limit=limit,
                remaining=_header_int(headers, "ratelimit-remaining"),
                reset_at=float(reset) if reset is not None else None,
            )
        return self._rate

    # -- records --------------------------------------------------------------------------

    def _record(self, post: OutgoingPost) -> models.AppBskyFeedPost.Record:
        facets = [_to_model(f) for f in find_facets(post.text)]
        return models.AppBskyFeedPost.Record(
            text=post.text,
            created_at=self._client.get_current_time_iso(),
            langs=[post.language] if post.language else None,
            facets=facets or None,
            embed=self._embed(post),
        )

    def _embed(
        self, post: OutgoingPost
    ) -> models.AppBskyEmbedExternal.Main | models.AppBskyEmbedImages.Main | None:
        # A link card's thumbnail has no alt text in the lexicon; a channel that wants the
        # photo described (``options: {embed: photo}``) posts it as an image with the caption
        # as alt text, the link staying in the text (a facet).
        if self._embed_kind == "photo" and post.media:
            blob = self._upload_thumb(post.media[0])
            if blob is not None:
                return models.AppBskyEmbedImages.Main(
                    images=[models.AppBskyEmbedImages.Image(alt=post.media[0].alt_text, image=blob)]
                )
        if not post.link:
            return None
        thumb = self._upload_thumb(post.media[0]) if post.media else None
        return models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=post.link,
                title=post.title or post.link,
                description=post.description,
                thumb=thumb,
            )
        )

    def _upload_thumb(self, media: Media) -> models.BlobRef | None:
        """Upload the card's image, shrunk under the blob limit; None when it cannot be."""
        try:
            with Image.open(io.BytesIO(media.data)) as img:
                width, height = img.size
            image = FetchedImage(media.data, media.content_type, width, height, media.url)
            fitted = fit_image(image, BLOB_LIMIT, _THUMB_MAX_DIM)
        except (MediaError, OSError, ValueError) as exc:
            # A bad image never blocks the post: the card goes out without a thumbnail.
            log.warning("post.media_dropped", platform="bluesky", reason=str(exc))
            return None
        try:
            uploaded = self._call(
                "uploadBlob",
                lambda: self._client.com.atproto.repo.upload_blob(
                    fitted.data, headers={"Content-Type": fitted.content_type}
                ),
                writes=False,
            )
        except PermanentError as exc:
            log.warning("post.media_dropped", platform="bluesky", reason=str(exc))
            return None
        return uploaded.blob

    def _get(self, rkey: str) -> _Existing | None:
        did = self._login()
        params = models.ComAtprotoRepoGetRecord.Params(repo=did, collection=_COLLECTION, rkey=rkey)
        try:
            got = self._call(
                "getRecord", lambda: self._client.com.atproto.repo.get_record(params), writes=False
            )
        except PermanentError as exc:
            if exc.status in (400, 404) and "RecordNotFound" in str(exc):
                return None
            raise
        value = got.value
        text = getattr(value, "text", None)
        if text is None and isinstance(value, Mapping):
            text = value.get("text")
        return _Existing(
            text=text if isinstance(text, str) else "",
            result=PostResult(remote_id=rkey, url=self._web_url(got.uri)),
            cid=got.cid,
        )

    def _web_url(self, uri: str) -> str:
        """``at://did/app.bsky.feed.post/rkey`` → the post's bsky.app address."""
        rkey = uri.rsplit("/", 1)[-1]
        return f"https://bsky.app/profile/{self._handle}/post/{rkey}"

    # -- session and errors ---------------------------------------------------------------

    def _login(self) -> str:
        if self._did is None:
            self._call(
                "createSession",
                lambda: self._client.login(self._handle, self._password, fetch_bsky_profile=False),
                writes=False,
                login=True,
            )
            session = self._client._session
            if session is None:
                raise PermanentError("bluesky", "createSession: no session returned")
            self._did = session.did
        return self._did

    def _call(
        self, method: str, call: Callable[[], _T], *, writes: bool, login: bool = False
    ) -> _T:
        """Run one atproto call, mapping its errors; the cause is dropped (from None) so no
        request detail travels with the exception."""
        try:
            return call()
        except RequestErrorBase as exc:
            raise self._error(method, exc, writes=writes, login=login) from None
        except httpx.HTTPError as exc:
            # atproto wraps timeouts and network errors but lets protocol errors through.
            raise self._transport_error(method, exc, writes=writes) from None
        except AtProtocolError as exc:
            # A model that does not parse: after a write the record may exist.
            error_class: type[PlatformError] = UncertainOutcome if writes else PermanentError
            raise error_class(
                "bluesky", f"{method}: unexpected answer ({exc.__class__.__name__})"
            ) from None

    def _transport_error(
        self, method: str, exc: BaseException | None, *, writes: bool
    ) -> PlatformError:
        name = exc.__class__.__name__ if exc is not None else "no response"
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return TransientError("bluesky", f"{method}: could not connect ({name})")
        if writes:
            return UncertainOutcome("bluesky", f"{method}: no answer ({name})")
        return TransientError("bluesky", f"{method}: no answer ({name})")

    def _error(
        self, method: str, exc: RequestErrorBase, *, writes: bool, login: bool
    ) -> PlatformError:
        response = exc.response
        if response is None:
            return self._transport_error(method, exc.__cause__, writes=writes)
        status = response.status_code
        headers = {k.lower(): str(v) for k, v in response.headers.items()}
        content = response.content
        error, detail = "", ""
        if isinstance(content, XrpcError):
            error, detail = content.error, content.message or ""
        message = f"{method}: {error or f'HTTP {status}'}" + (f": {detail}" if detail else "")
        message = message.replace(self._password, "[redacted]")
        if status == 429:
            return RateLimited(
                "bluesky", message, retry_after=self._retry_after(headers), status=status
            )
        if error == "ExpiredToken" and not login:
            # The PDS answers 400 for an expired token; signing in again on the next call
            # renews it, so this one is worth retrying.
            self._did = None
            return TransientError("bluesky", message, status=status)
        if status in (401, 403) or error in _PERMANENT_AUTH or isinstance(exc, UnauthorizedError):
            self._did = None
            return PermanentError("bluesky", message, status=status)
        if status >= 500 or (isinstance(exc, NetworkError) and status not in (409, 413)):
            if writes:
                return UncertainOutcome("bluesky", message, status=status)
            return TransientError("bluesky", message, status=status)
        # 400 InvalidRequest/RecordNotFound, 409, 413 BlobTooLarge: the request itself is wrong.
        return PermanentError("bluesky", message, status=status)

    @staticmethod
    def _retry_after(headers: Mapping[str, str]) -> float:
        """Seconds from ``Retry-After``, else until ``ratelimit-reset`` (Unix time)."""
        retry_after = headers.get("retry-after", "")
        if retry_after.isdigit():
            return float(retry_after)
        reset = _header_int(headers, "ratelimit-reset")
        if reset is not None:
            return max(1.0, reset - time.time())
        return _DEFAULT_RETRY_AFTER
