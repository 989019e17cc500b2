"""Redis replies as plain Python values (text, members, scores)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from syndication.errors import StoreError

__all__ = ["decode_map", "hash_of", "members", "pairs", "scores", "text_of"]


def text_of(value: bytes | str | None) -> str:
    """A Redis reply as text (``""`` for a missing value)."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def members(reply: Iterable[object]) -> list[str]:
    """The members of a set or sorted-set range read without scores, as text.

    redis-py types range replies as members or (member, score) pairs in one union; without
    ``withscores`` every item is a member.
    """
    out: list[str] = []
    for item in reply:
        if not isinstance(item, bytes | str):
            raise StoreError(f"expected a member, got {item!r}")
        out.append(text_of(item))
    return out


def pairs(reply: Iterable[object]) -> list[tuple[str, float]]:
    """(member, score) pairs of a sorted-set range read ``withscores=True``."""
    out: list[tuple[str, float]] = []
    for item in reply:
        if not isinstance(item, tuple | list):
            raise StoreError(f"expected a (member, score) pair, got {item!r}")
        member, score = item
        out.append((text_of(member), float(score)))
    return out


def scores(reply: Iterable[object]) -> list[float]:
    """The scores of a sorted-set range read ``withscores=True``."""
    out: list[float] = []
    for item in reply:
        if not isinstance(item, tuple | list):
            raise StoreError(f"expected a (member, score) pair, got {item!r}")
        _, score = item
        out.append(score)
    return out


def decode_map(data: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A Redis hash as text keys and values."""
    return {text_of(k): text_of(v) for k, v in data.items()}


def hash_of(reply: Any) -> dict[bytes | str, bytes | str]:
    """An ``HGETALL`` reply read as Redis sent it (:func:`syndication.connection.exchange`)
    as a dict: RESP2 sends a flat list of fields and values, RESP3 a map."""
    if isinstance(reply, dict):
        return dict(reply)
    return dict(zip(reply[::2], reply[1::2], strict=True))
