"""Untrusted input in: JSON text decoded and checked without recursion, any payload printable.

Everything that reaches the event contract from outside passes through here first, whatever
entry it came by (Python, CLI, HTTP, inbox stream). The functions are pure, and the only
exception they raise is :class:`~syndication.errors.EventValidationError` naming a field
(``$``-free dotted paths, ``event`` for the whole document):

* :func:`decode_json`: bytes must be UTF-8; a leading byte order mark is dropped (RFC 8259
  allows a parser to ignore it); the JSON must not repeat a key in an object, use
  ``NaN``/``Infinity`` or numbers beyond an IEEE 754 double (I-JSON, RFC 7493), or nest
  deeper than :data:`MAX_DEPTH`.
* :func:`check_value`: the same rules for a value already decoded (what ``syndication.publish``
  is handed), walked with an explicit stack, so a structure 100,000 levels deep, or one that
  contains itself, is reported rather than overflowing the interpreter's stack.
* :func:`raw_text`: any payload (bytes, text with lone surrogates, arbitrary objects) as
  valid UTF-8 text for a dead letter, escaped and bounded, with a note saying what was done.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
import sys
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Any

from syndication.errors import EventValidationError, FieldError

# Events are four or five levels deep; 64 leaves room for unknown fields a CMS adds.
MAX_DEPTH = 64
# More values than a 1 MiB document can hold: a bound on the walk of in-memory values.
MAX_VALUES = 1_000_000
# Problems reported per document (the rest are counted, not listed).
MAX_PROBLEMS = 20
# Longest key shown in a path; longer keys are cut with an ellipsis.
_KEY_SHOWN = 64
_BOM = "\ufeff"
# The largest magnitude a JSON number may have: that of an IEEE 754 double.
_MAX_NUMBER = int(sys.float_info.max)
_MAX_DIGITS = len(str(_MAX_NUMBER))
# Characters a path or message never shows as they are: C0 and C1 controls (a terminal would
# obey them), and lone surrogates (they cannot be encoded as UTF-8).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# In a raw payload line breaks and tabs stay; other controls and surrogates are escaped.
_UNPRINTABLE_RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Unrepresentable:
    """A JSON number or constant no event may carry, kept as (the start of) its source text."""

    text: str
    reason: str


class _Object(dict[str, Any]):
    """A decoded JSON object that repeated some keys (the last value of each was kept)."""

    duplicates: tuple[str, ...] = ()


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with control characters and lone surrogates written as backslash escapes."""
    return (_UNPRINTABLE_RAW if keep_lines else _UNPRINTABLE).sub(_escape, text)


def escape_surrogates(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udNNN`` (valid in a JSON string, and
    decoded back to the same code point), so that it can be encoded as UTF-8."""
    return _SURROGATE.sub(_escape, text)


def key_name(key: str) -> str:
    """A key as a path shows it: printable, and cut when very long."""
    shown = printable(key)
    return shown if len(shown) <= _KEY_SHOWN else shown[: _KEY_SHOWN - 1] + "…"


def join_path(parent: str, key: str) -> str:
    """The dotted path of ``key`` inside ``parent`` (``""`` for the document itself)."""
    return f"{parent}.{key_name(key)}" if parent else key_name(key)


# A path built as the walk goes, turned into text only for a message: (parent, key or index),
# ``None`` for the document itself. Formatting every key's path up front was a fifth of the
# cost of validating an event.
LazyPath = tuple["LazyPath", str | int] | None


def path_text(path: LazyPath) -> str:
    """``article.authors[0].name`` for a lazy path."""
    parts: list[str | int] = []
    while path is not None:
        path, part = path
        parts.append(part)
    text = ""
    for part in reversed(parts):
        text = f"{text}[{part}]" if isinstance(part, int) else join_path(text, part)
    return text


# --- decoding ------------------------------------------------------------------------------
def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for key, _ in pairs:
        if key in seen:
            repeated[key] = None
        seen.add(key)
    marked = _Object(obj)
    marked.duplicates = tuple(repeated)
    return marked


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}…"


def _constant(name: str) -> Unrepresentable:
    return Unrepresentable(name, f"{name} is not a JSON number")


def _float(text: str) -> float | Unrepresentable:
    value = float(text)
    if math.isfinite(value):
        return value
    return Unrepresentable(_short(text), "number out of range (beyond an IEEE 754 double)")


def _int(text: str) -> int | Unrepresentable:
    digits = len(text.lstrip("-"))
    # Checked before int(): Python refuses to convert more than 4,300 digits (ValueError).
    if digits > _MAX_DIGITS or abs(value := int(text)) > _MAX_NUMBER:
        return Unrepresentable(
            _short(text), f"number out of range ({digits} digits, beyond an IEEE 754 double)"
        )
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_float=_float, parse_int=_int, parse_constant=_constant
)


def _reject(path: str, message: str) -> EventValidationError:
    return EventValidationError([FieldError(path, message)])


def text_of(data: str | bytes) -> str:
    """``data`` as text: bytes must be UTF-8; a leading byte order mark is dropped."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = data[exc.start]
            raise _reject(
                "event", f"not valid UTF-8 (byte 0x{bad:02x} at offset {exc.start})"
            ) from None
    return data.removeprefix(_BOM)


def decode_json(data: str | bytes) -> Any:
    """Decode one JSON document; out-of-range numbers, ``NaN`` and repeated keys are marked
    for :func:`check_value` to report by field.

    Raises:
        EventValidationError: not UTF-8, empty, not JSON, or nested too deeply to decode.
    """
    text = text_of(data)
    if not text.strip():
        raise _reject("event", "empty: expected a JSON object")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _reject("event", f"not valid JSON ({exc})") from None
    except RecursionError:
        # The C decoder guards its own recursion and unwinds cleanly.
        raise _reject("event", f"nested deeper than {MAX_DEPTH} levels") from None


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def array_items(text: str) -> list[str] | None:
    """The source text of each element of the JSON array ``text`` (exactly as written,
    so a rejected element is kept as it was sent); None when ``text`` is not one array."""
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        return None
    pos = _skip(text, pos + 1)
    items: list[str] = []
    if not text.startswith("]", pos):
        while True:
            try:
                _, end = _DECODER.raw_decode(text, pos)
            except (json.JSONDecodeError, RecursionError):
                return None
            items.append(text[pos:end])
            pos = _skip(text, end)
            if not text.startswith(",", pos):
                break
            pos = _skip(text, pos + 1)
        if not text.startswith("]", pos):
            return None
    return items if not text[pos + 1 :].strip(" \t\n\r") else None


def json_kind(value: object) -> str:
    """What kind of JSON value ``value`` is, for messages (``an array``, ``null``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Unrepresentable):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


# --- checking decoded values ---------------------------------------------------------------
def _scalar_problem(value: object) -> str | None:
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= _MAX_NUMBER else "number out of range (beyond a double)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    if isinstance(value, Unrepresentable):
        return value.reason
    return f"not a JSON value ({type(value).__name__})"


def check_value(
    value: object, *, max_depth: int = MAX_DEPTH, strings: list[str] | None = None
) -> list[FieldError]:
    """Every way ``value`` is not plain JSON within bounds, each named by its path.

    Walks with an explicit stack (never recursion), visits at most :data:`MAX_VALUES`
    values, and lists at most :data:`MAX_PROBLEMS` problems (then counts the rest). Every
    string value met is appended to ``strings`` when given (so that a caller that looks at
    each string needs no second walk).
    """
    problems: list[FieldError] = []
    extra = 0

    def note(path: str, message: str) -> None:
        nonlocal extra
        if len(problems) < MAX_PROBLEMS:
            problems.append(FieldError(path or "event", message))
        else:
            extra += 1

    stack: list[tuple[object, LazyPath, int]] = [(value, None, 1)]
    visited = 0
    while stack:
        item, path, depth = stack.pop()
        visited += 1
        if visited > MAX_VALUES:
            note("event", f"too large: more than {MAX_VALUES:,} values")
            break
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                note(path_text(path), f"nested deeper than {max_depth} levels")
                continue
            pairs: Iterable[tuple[object, object]]
            if isinstance(item, dict):
                for key in getattr(item, "duplicates", ()):
                    note(path_text((path, key)), "repeated key (each key may appear once)")
                pairs = item.items()
            else:
                pairs = enumerate(item)
            children: list[tuple[object, LazyPath, int]] = []
            for key, child in pairs:
                if isinstance(item, dict) and not isinstance(key, str):
                    note(path_text(path), f"key {printable(repr(key))[:40]} is not a string")
                    continue
                # Strings, nulls and booleans (most values) are taken here, not stacked:
                # they can have no problem, so the problems' order is the same.
                kind = type(child)
                if kind is str:
                    visited += 1
                    if strings is not None:
                        strings.append(child)  # type: ignore[arg-type]
                elif child is None or kind is bool:
                    visited += 1
                else:
                    children.append((child, (path, key), depth + 1))
            if visited > MAX_VALUES:
                note("event", f"too large: more than {MAX_VALUES:,} values")
                break
            stack.extend(reversed(children))
        elif isinstance(item, str):
            if strings is not None:
                strings.append(item)
        else:
            problem = _scalar_problem(item)
            if problem:
                note(path_text(path), problem)
    if extra:
        problems.append(FieldError("event", f"{extra} more problem(s) not listed"))
    return problems


def plain_strings(value: object) -> list[str] | None:
    """Every string of ``value`` when it is plain JSON within bounds (the usual event), else
    ``None``: :func:`check_value` then names each problem by its path.

    The fast way to the same verdict (it accepts nothing :func:`check_value` would refuse):
    a walk that keeps no paths and stops at the first thing it does not expect.
    """
    strings: list[str] = []
    stack: list[tuple[object, int]] = [(value, 1)]
    visited = 0
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict:
            children: Iterable[object] = item.values()  # type: ignore[attr-defined]
            if any(type(key) is not str for key in item):  # type: ignore[attr-defined]
                return None
        elif kind is list:
            children = item  # type: ignore[assignment]
        else:  # a container of another kind (repeated keys), or a scalar at the top
            return None
        for child in children:
            visited += 1
            kind = type(child)
            if kind is str:
                strings.append(child)  # type: ignore[arg-type]
            elif kind is dict or kind is list:
                if depth >= MAX_DEPTH:
                    return None
                stack.append((child, depth + 1))
            elif kind is int:
                if abs(child) > _MAX_NUMBER:  # type: ignore[arg-type]
                    return None
            elif kind is float:
                if not math.isfinite(child):  # type: ignore[arg-type]
                    return None
            elif child is not None and kind is not bool:
                return None
        if visited >= MAX_VALUES:
            return None
    return strings


def is_plain(value: object) -> bool:
    """Whether ``value`` is plain JSON within bounds (what :func:`check_value` accepts)."""
    return not check_value(value)


# --- raw payloads as text ------------------------------------------------------------------
@dataclass(frozen=True)
class RawText:
    """A payload as valid UTF-8 text, and what was done to make it so (None: nothing)."""

    text: str
    note: str | None = None


class _Repr(reprlib.Repr):
    """A bounded ``repr`` that also survives integers too long to print in decimal."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 8
        self.maxstring = 200
        self.maxother = 200
        self.maxlong = 200

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4_000:  # past int's decimal conversion limit
            return f"<integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_REPR = _Repr()


def _repr_of(value: object) -> str:
    try:
        return _REPR.repr(value)
    except Exception:  # a __repr__ of the caller's that raises: still keep something
        return f"<unprintable {type(value).__name__}>"


def raw_text(raw: object, limit: int) -> RawText:
    """Any payload as valid UTF-8 text of at most ``limit`` bytes, for a dead letter.

    Text stays as it was; invalid UTF-8 bytes become ``\\xNN`` and lone surrogates
    ``\\udNNN`` (a JSON string escape, so JSON text still decodes to what was sent);
    a value that is not text is written as JSON, or as a bounded Python ``repr`` when it is
    not JSON. The note says which of these happened and whether the text was cut.
    """
    notes: list[str] = []
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", "backslashreplace")
            notes.append("bytes that are not UTF-8 are written as \\xNN")
    elif isinstance(raw, str):
        text = raw
    else:
        replaced: list[str] = []

        def default(value: object) -> object:
            if isinstance(value, Unrepresentable):
                return value.text
            replaced.append(type(value).__name__)
            return _repr_of(value)

        try:
            text = json.dumps(raw, ensure_ascii=False, default=default)
        except (TypeError, ValueError, RecursionError):
            # Not JSON at any cost: cyclic, too deep for the encoder, or an integer too
            # long for decimal. A bounded repr keeps the start of it.
            text = _repr_of(raw)
            notes.append("not JSON: written as a Python repr")
        else:
            if replaced:
                notes.append(
                    f"values that are not JSON ({', '.join(sorted(set(replaced)))}) "
                    "are written as their Python repr"
                )
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(_escape, text)
        notes.append("lone surrogates are written as \\uXXXX")
    encoded = text.encode("utf-8")
    if len(encoded) > limit:
        text = encoded[:limit].decode("utf-8", "ignore")
        notes.append(f"cut to the first {limit:,} of {len(encoded):,} bytes")
    return RawText(text, "; ".join(notes) or None)


async def read_limited(stream: AsyncIterable[bytes], limit: int) -> bytes | None:
    """A request body, or None as soon as it grows past ``limit`` bytes (so a client cannot
    make the server hold more than the limit)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
