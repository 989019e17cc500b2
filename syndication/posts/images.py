"""The lead image: fetched once, safely, then checked and fitted to each platform's limits.

``fetch_image`` is the only place the project downloads a URL it was handed by an event,
so it guards against server-side request forgery: the host must be allowed by config, every
address it resolves to must be public (unless the policy allows private ones, as the tests
do), redirects are followed by hand so each hop is checked again, and the body is streamed
and abandoned past the size limit or the deadline. The bytes are then opened with Pillow, so
a server that lies about its content type cannot slip anything but an image through.

Failures raise :class:`MediaError`. A failed image must never block a post: the caller sends
the post without it and records the reason.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from syndication.config import ImagesConfig
from syndication.errors import SyndicationError
from syndication.platforms.facts import FACTS
from syndication.platforms.media import (
    IMAGE_TYPES,
    FetchedImage,
    MediaError,
    MediaLimits,
    fit_image,
)
from syndication.store import Store, text_of

__all__ = [
    "IMAGE_TYPES",
    "FetchedImage",
    "ImagePolicy",
    "LeadImages",
    "MediaError",
    "MediaLimits",
    "check_media",
    "fetch_image",
    "fit_image",
]

# Pillow's format names for the content types we accept.
_FORMAT_TYPES: Mapping[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}

# Far above any photo a newsroom publishes and far below what exhausts a worker's memory when
# decoded (a 60 MP RGBA image is about 240 MB); Pillow's own bomb limit is a warning only.
_MAX_PIXELS = 60_000_000
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ImagePolicy:
    """Where images may come from and what they may be.

    Args:
        allowed_hosts: Host names images may be fetched from; a name also allows its
            subdomains. Empty allows any public host.
        allow_private: Allow private, loopback and link-local addresses (tests only).
    """

    allowed_hosts: frozenset[str] = frozenset()
    allow_private: bool = False
    max_bytes: int = 15 * 1024 * 1024
    timeout: float = 10.0
    allowed_types: frozenset[str] = IMAGE_TYPES
    max_redirects: int = 3


def check_media(platform: str, image: FetchedImage, *, count: int = 1) -> str | None:
    """Return why ``image`` cannot be attached on ``platform``, or ``None`` when it fits.

    Args:
        count: How many images the post would carry, this one included.
    """
    facts = FACTS.get(platform)
    if facts is None:
        return f"media.platform: no media limits known for {platform!r}"
    limits = facts.media
    if limits.count == 0:
        return f"media: {platform} posts carry no image in this adapter"
    if count > limits.count:
        return f"media.count: {count} images, {platform} allows {limits.count}"
    if image.content_type not in limits.types:
        return f"media.content_type: {image.content_type} not accepted by {platform}"
    if image.size > limits.max_bytes and not facts.resizes_images:
        return f"media.size: {image.size} bytes, {platform} allows {limits.max_bytes}"
    if limits.max_dim_sum is not None and image.width + image.height > limits.max_dim_sum:
        return (
            f"media.dimensions: {image.width}x{image.height}, "
            f"{platform} allows width + height up to {limits.max_dim_sum}"
        )
    return None


def _host_allowed(host: str, allowed: frozenset[str]) -> bool:
    if not allowed:
        return True
    host = host.lower().rstrip(".")
    return any(host == name or host.endswith("." + name) for name in allowed)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    # An IPv4-mapped IPv6 address reaches the IPv4 host, so judge that host.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _check_url(url: str, policy: ImagePolicy) -> None:
    """Refuse a URL whose scheme, host or resolved addresses the policy does not allow."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError(f"image.url: not an absolute http(s) URL: {url!r}")
    if parts.username or parts.password:
        raise MediaError("image.url: credentials in an image URL are not allowed")
    host = parts.hostname
    if not _host_allowed(host, policy.allowed_hosts):
        raise MediaError(f"image.url: host {host!r} is not in the allowed image hosts")
    if policy.allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 0, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise MediaError(f"image.url: cannot resolve {host!r}: {exc}") from exc
    # Every address must be public: a name that resolves to one public and one private
    # address would otherwise let the connection land on the private one. This check and
    # httpx's own lookup are separate, so a rebinding DNS server could still race it; the
    # allowed-hosts list is the defence against that.
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise MediaError(f"image.url: host {host!r} resolves to non-public address {address}")


def _open(data: bytes, policy: ImagePolicy, url: str | None) -> FetchedImage:
    """Identify the image by its bytes, not by what the server claimed."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format or ""
            if width * height > _MAX_PIXELS:
                raise MediaError(f"image: {width}x{height} pixels is too large to process")
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"image: not a readable image ({exc.__class__.__name__})") from exc
    except Image.DecompressionBombError as exc:
        raise MediaError("image: refused as a decompression bomb") from exc
    content_type = _FORMAT_TYPES.get(fmt)
    if content_type is None or content_type not in policy.allowed_types:
        raise MediaError(f"image: format {fmt or 'unknown'} is not an allowed image type")
    return FetchedImage(data=data, content_type=content_type, width=width, height=height, url=url)


def _read_limited(response: httpx.Response, policy: ImagePolicy, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
        raise MediaError(f"image: {declared} bytes is over the limit of {policy.max_bytes}")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes(_CHUNK):
        total += len(chunk)
        if total > policy.max_bytes:
            raise MediaError(f"image: more than {policy.max_bytes} bytes, download abandoned")
        # httpx's timeout bounds each read, not the whole body; a server dripping one byte
        # at a time would otherwise hold the worker for ever.
        if time.monotonic() > deadline:
            raise MediaError(f"image: download took longer than {policy.timeout} s")
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_image(url: str, policy: ImagePolicy, client: httpx.Client | None = None) -> FetchedImage:
    """Download the image at ``url`` under ``policy``; raise :class:`MediaError` when refused.

    Args:
        client: An httpx client to reuse; one is made (and closed) when omitted. Its own
            redirect setting is overridden, since each hop has to be checked.
    """
    own_client = client is None
    http = client if client is not None else httpx.Client()
    deadline = time.monotonic() + policy.timeout
    current = url
    try:
        for _hop in range(policy.max_redirects + 1):
            _check_url(current, policy)
            try:
                with http.stream(
                    "GET",
                    current,
                    follow_redirects=False,
                    timeout=policy.timeout,
                    headers={"Accept": ", ".join(sorted(policy.allowed_types))},
                ) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise MediaError("image: redirect without a Location header")
                        current = urljoin(current, location)
                        continue
                    if response.status_code != 200:
                        raise MediaError(f"image: HTTP {response.status_code} from {current}")
                    declared_type = (
                        response.headers.get("content-type", "").split(";")[0].strip().lower()
                    )
                    if declared_type not in policy.allowed_types:
                        raise MediaError(
                            f"image.content_type: {declared_type or 'none'} is not an allowed "
                            "image type"
                        )
                    data = _read_limited(response, policy, deadline)
            except httpx.TimeoutException as exc:
                raise MediaError(f"image: timed out fetching {current}") from exc
            except httpx.HTTPError as exc:
                raise MediaError(
                    f"image: could not fetch {current} ({exc.__class__.__name__})"
                ) from exc
            return _open(data, policy, url)
        raise MediaError(f"image: more than {policy.max_redirects} redirects")
    finally:
        if own_client:
            http.close()


class LeadImages:
    """Lead images fetched once per URL (kept in Redis for two days) and checked per platform."""

    # A fetched image is kept this long, so each lead image is downloaded once.
    TTL = 2 * 86400

    def __init__(self, store: Store, config: ImagesConfig) -> None:
        self.r = store.r
        self.keys = store.keys
        self.policy = ImagePolicy(
            allowed_hosts=frozenset(config.allowed_hosts),
            allow_private=config.allow_private,
            max_bytes=config.max_bytes,
            timeout=config.timeout,
        )

    def _key(self, url: str) -> str:
        return self.keys.media_for_url(url)

    def cached(self, url: str) -> FetchedImage | None:
        """The image at ``url`` if it was fetched in the last two days."""
        data, ctype, width, height = self.r.hmget(self._key(url), "data", "type", "width", "height")
        if not isinstance(data, bytes) or not ctype:
            return None
        return FetchedImage(data, text_of(ctype), int(width or 0), int(height or 0), url=url)

    def get(self, url: str) -> FetchedImage:
        """The image at ``url``, fetched once (then cached). Raises :class:`MediaError`."""
        cached = self.cached(url)
        if cached is not None:
            return cached
        try:
            image = fetch_image(url, self.policy)
        except (SyndicationError, OSError) as exc:
            raise MediaError(str(exc)) from None
        pipe = self.r.pipeline()
        pipe.hset(
            self._key(url),
            mapping={
                "data": image.data,
                "type": image.content_type,
                "width": image.width,
                "height": image.height,
            },
        )
        pipe.expire(self._key(url), self.TTL)
        pipe.execute()
        return image

    def for_platform(self, platform: str, url: str) -> FetchedImage:
        """The image at ``url`` checked against ``platform``'s limits (or :class:`MediaError`)."""
        image = self.get(url)
        problem = check_media(platform, image)
        if problem:
            raise MediaError(problem)
        return image
