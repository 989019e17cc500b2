"""Images as the platforms take them: fetched bytes, per-platform limits, re-encoding.

Used by the adapters (Bluesky shrinks oversized images itself) and by the posts package, which
fetches lead images and checks them against :data:`MEDIA_LIMITS` before a post goes out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from syndication.errors import SyndicationError
from syndication.platforms.base import Media
from syndication.platforms.facts import IMAGE_TYPES, MediaLimits

__all__ = ["IMAGE_TYPES", "FetchedImage", "MediaError", "MediaLimits", "fit_image"]


class MediaError(SyndicationError):
    """The image could not be fetched, was refused, or does not fit; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class FetchedImage:
    """An image's bytes with the content type Pillow found in them and its size in pixels."""

    data: bytes = field(repr=False)
    content_type: str
    width: int
    height: int
    url: str | None = None

    @property
    def size(self) -> int:
        """The number of bytes."""
        return len(self.data)

    def to_media(self, alt_text: str = "") -> Media:
        """The image as an attachment, with the article's caption as alt text."""
        extension = self.content_type.rpartition("/")[2].replace("jpeg", "jpg")
        return Media(
            data=self.data,
            content_type=self.content_type,
            alt_text=alt_text,
            filename=f"image.{extension}",
            url=self.url,
        )


def fit_image(image: FetchedImage, max_bytes: int, max_dim: int = 2000) -> FetchedImage:
    """Return ``image`` unchanged if it fits, else a JPEG re-encoding under both limits.

    Quality is lowered first and the dimensions after, so a photo loses as little detail as
    it can. Transparency is flattened onto white, since JPEG has none.
    """
    if image.size <= max_bytes and max(image.width, image.height) <= max_dim:
        return image
    try:
        with Image.open(io.BytesIO(image.data)) as src:
            src.seek(0)  # the first frame of an animation
            if src.mode in ("RGBA", "LA", "P"):
                rgba = src.convert("RGBA")
                base = Image.new("RGB", rgba.size, (255, 255, 255))
                base.paste(rgba, mask=rgba.getchannel("A"))
            else:
                base = src.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaError(f"image: cannot be re-encoded ({exc.__class__.__name__})") from exc
    base.thumbnail((max_dim, max_dim), Image.Resampling.LANCZOS)
    while True:
        for quality in (85, 75, 65, 50):
            buffer = io.BytesIO()
            base.save(buffer, format="JPEG", quality=quality, optimize=True)
            if buffer.tell() <= max_bytes:
                return FetchedImage(
                    data=buffer.getvalue(),
                    content_type="image/jpeg",
                    width=base.width,
                    height=base.height,
                    url=image.url,
                )
        if max(base.size) <= 64:
            raise MediaError(f"image: cannot be made smaller than {max_bytes} bytes")
        base = base.resize(
            (max(1, base.width * 3 // 4), max(1, base.height * 3 // 4)),
            Image.Resampling.LANCZOS,
        )
