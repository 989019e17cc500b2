"""Lead image fetching against a local image host, and fitting to platform limits."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from PIL import Image
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from syndication.platforms.bluesky import BLOB_LIMIT
from syndication.posts.images import (
    FetchedImage,
    ImagePolicy,
    MediaError,
    check_media,
    fetch_image,
    fit_image,
)
from syndication.testing.base import SandboxServer


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


PNG = encode(Image.new("RGBA", (64, 48), (10, 20, 30, 128)), "PNG")
JPEG = encode(Image.new("RGB", (80, 60), (200, 100, 0)), "JPEG")


def noisy(side: int) -> Image.Image:
    return Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))


class ImageHost(SandboxServer):
    """A web server with good images, bad ones, and redirects."""

    platform = "images"

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/a.png", lambda r: Response(PNG, media_type="image/png")),
            Route("/a.jpg", lambda r: Response(JPEG, media_type="image/jpeg; charset=binary")),
            Route("/page.html", lambda r: Response(b"<html></html>", media_type="text/html")),
            Route("/liar.png", lambda r: Response(b"<html>not png</html>", media_type="image/png")),
            Route("/big.jpg", lambda r: Response(b"\xff" * 5000, media_type="image/jpeg")),
            Route("/endless.jpg", self._endless),
            Route("/redirect", self._redirect),
        ]

    @staticmethod
    async def _endless(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"\xff" * 1024

        # No Content-Length: only counting while streaming can stop it.
        return StreamingResponse(chunks(), media_type="image/jpeg")

    @staticmethod
    async def _redirect(request: Request) -> RedirectResponse:
        return RedirectResponse(request.query_params["to"], status_code=302)


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    with ImageHost() as server:
        yield server


LOCAL = ImagePolicy(allow_private=True, timeout=5.0)


def test_fetches_an_allowed_image_and_identifies_it(host: ImageHost) -> None:
    """A PNG from an allowed host comes back with its type and size found in its bytes."""
    image = fetch_image(f"{host.base_url}/a.png", LOCAL)
    assert (image.content_type, image.width, image.height) == ("image/png", 64, 48)
    assert image.data == PNG
    media = image.to_media("Caption as alt text")
    assert media.alt_text == "Caption as alt text" and media.filename == "image.png"


def test_content_type_parameters_are_ignored(host: ImageHost) -> None:
    """A Content-Type with parameters still counts as its media type."""
    assert fetch_image(f"{host.base_url}/a.jpg", LOCAL).content_type == "image/jpeg"


def test_loopback_url_is_refused_unless_allowed(host: ImageHost) -> None:
    """Without allow_private, a URL on 127.0.0.1 is refused before any request is made."""
    before = len(host.requests)
    with pytest.raises(MediaError, match=r"non-public address 127\.0\.0\.1"):
        fetch_image(f"{host.base_url}/a.png", ImagePolicy())
    assert len(host.requests) == before


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/a.png",
        "http://192.168.0.10/a.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://0.0.0.0/a.png",
        "http://localhost/a.png",
    ],
)
def test_private_link_local_and_reserved_addresses_are_refused(url: str) -> None:
    """Private, link-local, loopback and unspecified addresses are never fetched."""
    with pytest.raises(MediaError, match="non-public address"):
        fetch_image(url, ImagePolicy(timeout=1.0))


def test_host_outside_the_allow_list_is_refused(host: ImageHost) -> None:
    """When config lists image hosts, any other host is refused."""
    policy = ImagePolicy(allowed_hosts=frozenset({"cdn.example.com"}), allow_private=True)
    with pytest.raises(MediaError, match="not in the allowed image hosts"):
        fetch_image(f"{host.base_url}/a.png", policy)


def test_redirect_within_allowed_hosts_is_followed(host: ImageHost) -> None:
    """A redirect to an allowed host is followed and checked like the first URL."""
    url = f"{host.base_url}/redirect?to={host.base_url}/a.png"
    policy = ImagePolicy(allowed_hosts=frozenset({"127.0.0.1"}), allow_private=True)
    assert fetch_image(url, policy).content_type == "image/png"


def test_redirect_to_a_disallowed_host_is_refused(host: ImageHost) -> None:
    """A redirect cannot lead the fetch to a host the policy does not allow."""
    target = host.base_url.replace("127.0.0.1", "localhost") + "/a.png"
    policy = ImagePolicy(allowed_hosts=frozenset({"127.0.0.1"}), allow_private=True)
    before = len(host.requests)
    with pytest.raises(MediaError, match="'localhost' is not in the allowed"):
        fetch_image(f"{host.base_url}/redirect?to={target}", policy)
    assert len(host.requests) == before + 1


def test_redirect_loop_is_bounded(host: ImageHost) -> None:
    """A chain of redirects longer than the policy allows is refused."""
    url = f"{host.base_url}/redirect?to={host.base_url}/redirect?to={host.base_url}/a.png"
    with pytest.raises(MediaError, match="redirects"):
        fetch_image(url, ImagePolicy(allow_private=True, max_redirects=1))


def test_oversize_declared_length_is_refused(host: ImageHost) -> None:
    """A Content-Length over the limit is refused before the body is read."""
    with pytest.raises(MediaError, match="over the limit"):
        fetch_image(f"{host.base_url}/big.jpg", ImagePolicy(allow_private=True, max_bytes=1000))


def test_oversize_stream_is_abandoned(host: ImageHost) -> None:
    """A body without a length is abandoned as soon as it passes the limit."""
    with pytest.raises(MediaError, match="download abandoned"):
        fetch_image(
            f"{host.base_url}/endless.jpg", ImagePolicy(allow_private=True, max_bytes=10_000)
        )


def test_wrong_content_type_is_refused(host: ImageHost) -> None:
    """An HTML page is not an image."""
    with pytest.raises(MediaError, match="text/html is not an allowed image type"):
        fetch_image(f"{host.base_url}/page.html", LOCAL)


def test_body_that_is_not_an_image_is_refused_whatever_its_header(host: ImageHost) -> None:
    """A server claiming image/png for HTML is caught by reading the bytes."""
    with pytest.raises(MediaError, match="not a readable image"):
        fetch_image(f"{host.base_url}/liar.png", LOCAL)


def test_slow_server_times_out(host: ImageHost) -> None:
    """A server slower than the policy's timeout gives a MediaError, not a hang."""
    host.delay_next(3.0, path="/a.png")
    with pytest.raises(MediaError, match="timed out"):
        fetch_image(f"{host.base_url}/a.png", ImagePolicy(allow_private=True, timeout=0.3))


def test_non_http_urls_are_refused() -> None:
    """Only absolute http(s) URLs are fetched."""
    for url in ("file:///etc/passwd", "ftp://example.com/a.png", "/relative.png"):
        with pytest.raises(MediaError, match="not an absolute http"):
            fetch_image(url, ImagePolicy())


def test_fit_image_shrinks_a_large_photo_under_the_bluesky_limit() -> None:
    """A photo over the blob limit is re-encoded as a JPEG under it."""
    data = encode(noisy(1100), "JPEG", quality=95)
    big = FetchedImage(data=data, content_type="image/jpeg", width=1100, height=1100)
    assert big.size > BLOB_LIMIT
    fitted = fit_image(big, BLOB_LIMIT)
    assert fitted.size <= BLOB_LIMIT
    assert fitted.content_type == "image/jpeg"
    with Image.open(io.BytesIO(fitted.data)) as reopened:
        assert reopened.size == (fitted.width, fitted.height)


def test_fit_image_leaves_a_small_image_alone() -> None:
    """An image within both limits is returned unchanged."""
    small = FetchedImage(data=PNG, content_type="image/png", width=64, height=48)
    assert fit_image(small, BLOB_LIMIT) is small


def test_fit_image_bounds_dimensions_and_flattens_transparency() -> None:
    """An oversized transparent PNG becomes a JPEG within the maximum side."""
    data = encode(Image.new("RGBA", (3000, 1000), (0, 0, 255, 0)), "PNG")
    image = FetchedImage(data=data, content_type="image/png", width=3000, height=1000)
    fitted = fit_image(image, BLOB_LIMIT, max_dim=1500)
    assert (fitted.width, fitted.height) == (1500, 500)
    assert fitted.content_type == "image/jpeg"


def test_check_media_applies_each_platforms_limits() -> None:
    """Types, sizes, counts and platforms without images are refused with a reason."""
    webp = FetchedImage(data=b"x" * 100, content_type="image/webp", width=10, height=10)
    huge = FetchedImage(data=b"x" * 5_000_000, content_type="image/jpeg", width=10, height=10)
    assert check_media("telegram", webp) is None
    assert "not accepted by threads" in (check_media("threads", webp) or "")
    assert "facebook allows" in (check_media("facebook", huge) or "")
    # Bluesky's adapter resizes, so a large photo is acceptable when planned.
    assert check_media("bluesky", huge) is None
    assert "carry no image" in (check_media("linkedin", webp) or "")
    assert "allows 1" in (check_media("telegram", webp, count=2) or "")
    assert "no media limits" in (check_media("myspace", webp) or "")
    wide = FetchedImage(data=b"x", content_type="image/png", width=9000, height=2000)
    assert "width + height" in (check_media("telegram", wide) or "")
