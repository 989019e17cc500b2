"""Hypothesis strategies shared by the test suite.

Text is drawn from Vietnamese (precomposed and stacked diacritics), Japanese (kanji, kana,
no spaces), emoji (ZWJ sequences, flags, skin tones, keycaps) and plain ASCII, because those
are what break counting and cutting.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from syndication.cleaning import clean_text
from syndication.events import Article

VIETNAMESE_WORDS = (
    "Thủ",
    "tướng",
    "chuyển",
    "đổi",
    "số",
    "quốc",
    "gia",
    "hội",
    "nghị",
    "Việt",
    "Nam",
    "kinh",
    "tế",
    "người",
    "dân",
    "Hà",
    "Nội",
    "Đà",
    "Nẵng",
    "phát",
    "triển",
    "ưu",
    "tiên",
    "nhấn",
    "mạnh",
    "dữ",
    "liệu",
    "hạ",
    "tầng",
    "Báo",
    "Nhân",
    "dân,",
    "đạt",
    "kết",
    "quả.",
)
JAPANESE_RUNS = (
    "日本政府は",
    "デジタル外交を",
    "推進するため、",
    "新たな",
    "国際協力の",
    "枠組みを",
    "発表した。",
    "東京",
    "経済",
    "ベトナムとの",
    "関係",
    "強化",
    "首相が",
    "会談し、",
)
EMOJI = (
    "😷",
    "👍",
    "👍🏽",
    "👨\u200d👩\u200d👧\u200d👦",
    "🇻🇳",
    "🇯🇵",
    "1\ufe0f\u20e3",
    "❤\ufe0f",
    "🏳\ufe0f\u200d🌈",
    "🧑\u200d💻",
    "©",
)
ASCII_WORDS = ("the", "prime", "minister", "digital", "transformation", "summit", "AI", "2025")
LANGUAGES = ("vi", "en", "ja", "fr", "zh-Hant", "ko")
CATEGORIES = ("politics", "economy", "thoi-su", "culture", "the-gioi")
TAGS = (
    "chuyển đổi số",
    "digital-transformation",
    "diplomacy",
    "外交",
    "kinh tế",
    "AI",
    "Hà Nội",
    "2025",
    "climate change",
)
TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Ho_Chi_Minh",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
)


def words() -> st.SearchStrategy[str]:
    """One word or run: Vietnamese, Japanese, emoji, ASCII, or a decomposed Vietnamese word."""
    return st.one_of(
        st.sampled_from(VIETNAMESE_WORDS),
        st.sampled_from(JAPANESE_RUNS),
        st.sampled_from(EMOJI),
        st.sampled_from(ASCII_WORDS),
        st.sampled_from(VIETNAMESE_WORDS).map(lambda w: unicodedata.normalize("NFD", w)),
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
            min_size=1,
            max_size=12,
        ),
    )


def prose(min_words: int = 1, max_words: int = 80) -> st.SearchStrategy[str]:
    """Sentences mixing scripts, joined by spaces (and sometimes by nothing, as Japanese is)."""
    return st.lists(
        st.tuples(words(), st.sampled_from((" ", " ", " ", "", "\n"))),
        min_size=min_words,
        max_size=max_words,
    ).map(lambda parts: "".join(w + sep for w, sep in parts).strip() or "x")


def urls() -> st.SearchStrategy[str]:
    """Article URLs, some very long, some with queries and fragments."""
    path = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=120)
    return st.builds(
        lambda host, lang, slug, query: f"https://{host}/{lang}/{slug}{query}",
        st.sampled_from(("portal.example", "nhandan.vn", "example.com", "news.example.org")),
        st.sampled_from(LANGUAGES),
        path,
        st.sampled_from(("", "?utm_source=x&utm_medium=social", "#section-2", "?a=1&b=(2)")),
    )


def hashtags() -> st.SearchStrategy[str]:
    """Hashtags in several scripts."""
    return st.sampled_from(
        ("#ChuyểnĐổiSố", "#KinhTế", "#外交", "#AI", "#Việt_Nam", "#デジタル", "#news2025")
    )


def post_texts() -> st.SearchStrategy[tuple[str, str]]:
    """A post text as templates make it, and the article URL inside it."""
    return st.builds(
        lambda title, summary, url, tags: (
            f"{title}\n\n{summary}\n\n{url}" + ("\n\n" + " ".join(tags) if tags else ""),
            url,
        ),
        prose(1, 20),
        prose(1, 120),
        urls(),
        st.lists(hashtags(), max_size=6, unique=True),
    )


def aware_datetimes(
    min_value: datetime = datetime(2020, 1, 1),
    max_value: datetime = datetime(2032, 12, 31),
) -> st.SearchStrategy[datetime]:
    """Aware datetimes in UTC, whole seconds (what JSON events and Redis scores carry)."""
    return st.datetimes(min_value=min_value, max_value=max_value).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    )


def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


@st.composite
def articles(draw: st.DrawFn, language: str | None = None) -> Article:
    """A valid :class:`Article` with multilingual text, tags, authors and an offset time."""
    lang = language or draw(st.sampled_from(LANGUAGES))
    n = draw(st.integers(1, 999_999))
    category = draw(st.sampled_from(CATEGORIES))
    offset = _offset(draw(st.sampled_from((0, 420, 540, 60, -300, 330))))
    published = draw(aware_datetimes()).astimezone(offset)
    updated = draw(st.none() | st.integers(60, 86_400 * 3))
    raw: dict[str, object] = {
        "id": f"art-{n}-{lang.lower()}",
        "url": f"https://portal.example/{lang.lower()}/{category}/story-{n}",
        "language": lang,
        "title": clean_text(draw(prose(1, 15)))[0][:400].strip() or "Tin mới",
        "summary": clean_text(draw(prose(1, 60)))[0],
        "category": category,
        "tags": draw(st.lists(st.sampled_from(TAGS), max_size=5, unique=True)),
        "authors": [
            {"name": name}
            for name in draw(
                st.lists(st.sampled_from(("Nguyễn Văn An", "山田太郎", "Jane Doe")), max_size=2)
            )
        ],
        "source": draw(st.sampled_from((None, {"name": "Báo Nhân dân"}))),
        "published_at": published.isoformat(),
        "updated_at": None
        if updated is None
        else (published + timedelta(seconds=updated)).isoformat(),
        "translation_of": draw(st.sampled_from((None, f"art-{n}-vi"))),
    }
    return Article.model_validate(raw)


# --- hostile input -----------------------------------------------------------------------------
# What an attacker, a fuzzer or a broken CMS sends. Every entry (Python, CLI, HTTP, inbox) must
# answer each with a field-named rejection and a dead letter, or accept it, and never crash.

HOSTILE_BASE: dict[str, object] = {
    "id": "evt-hostile-1",
    "type": "article.published",
    "occurred_at": "2026-11-20T09:00:00+07:00",
    "article": {
        "id": "art-hostile-1",
        "url": "https://portal.example/vi/heritage/hoi-an",
        "language": "vi",
        "title": "Phố cổ Hội An",
        "summary": "Đèn lồng và sông Hoài.",
        "category": "heritage",
        "tags": ["hoi-an"],
        "authors": [{"name": "Nguyễn Văn An"}],
        "image": {"url": "https://img.example/a.jpg", "width": 1200},
        "published_at": "2026-11-20T08:00:00+07:00",
    },
}
# Where a hostile fragment goes: (dotted path as errors name it, path of keys to it).
PLACES: tuple[tuple[str, tuple[str | int, ...]], ...] = (
    ("id", ("id",)),
    ("type", ("type",)),
    ("extra", ("extra",)),
    ("article.title", ("article", "title")),
    ("article.tags[0]", ("article", "tags", 0)),
    ("article.authors[0].name", ("article", "authors", 0, "name")),
    ("article.image.width", ("article", "image", "width")),
)
_HOLE = "\u2063HOSTILE\u2063"


@dataclass(frozen=True)
class Hostile:
    """One hostile body, what it is, and what its rejection must name.

    ``field`` is the path an error must start with (``event`` errors always qualify; ``""``
    any path);
    ``rejected`` says whether it must be refused (False: it may also be accepted, e.g. a
    lone surrogate in a text field is removed with a warning).
    """

    kind: str
    body: bytes
    field: str = "event"
    rejected: bool = True


def hostile_base(n: int = 1) -> dict[str, object]:
    """A valid event with its own ids (the carrier hostile fragments are put into)."""
    doc = copy.deepcopy(HOSTILE_BASE)
    doc["id"] = f"evt-hostile-{n}"
    doc["article"]["id"] = f"art-hostile-{n}"  # type: ignore[index]
    return doc


def _with_fragment(place: tuple[str | int, ...], fragment: str, n: int = 1) -> bytes:
    """The base event as JSON text with the raw JSON ``fragment`` at ``place``."""
    doc: Any = hostile_base(n)
    target = doc
    for step in place[:-1]:
        target = target[step]
    target[place[-1]] = _HOLE
    return json.dumps(doc, ensure_ascii=False).replace(f'"{_HOLE}"', fragment).encode()


def deep_fragment(depth: int, kind: str = "[") -> str:
    """``depth`` nested arrays (or objects) as JSON text."""
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def deep_value(depth: int) -> object:
    """``depth`` nested Python lists, built without recursion."""
    root: list[object] = []
    node = root
    for _ in range(depth - 1):
        child: list[object] = []
        node.append(child)
        node = child
    return root


def _place() -> st.SearchStrategy[tuple[str, tuple[str | int, ...]]]:
    return st.sampled_from(PLACES)


@st.composite
def _deep(draw: st.DrawFn) -> Hostile:
    depth = draw(st.sampled_from((65, 100, 999, 1_000, 1_001, 5_000)) | st.integers(65, 3_000))
    kind = draw(st.sampled_from(("[", "{")))
    fragment = deep_fragment(depth, kind)
    if draw(st.booleans()):  # the document itself: not an object, or too deep below "a"
        return Hostile("deep", fragment.encode(), "event" if kind == "[" else "a")
    field, place = draw(_place())
    return Hostile("deep", _with_fragment(place, fragment), field)


@st.composite
def _surrogate(draw: st.DrawFn) -> Hostile:
    code = draw(st.integers(0xD800, 0xDFFF))
    text = draw(st.sampled_from(("", "Hội ", "x"))) + f"\\u{code:04x}"
    if draw(st.booleans()):  # in a key: an unknown field, ignored
        body = _with_fragment(("extra",), "1").replace(b'"extra"', f'"{text}"'.encode())
        return Hostile("surrogate-key", body, rejected=False)
    field, place = draw(_place())
    return Hostile("surrogate", _with_fragment(place, f'"{text}"'), field, rejected=False)


@st.composite
def _invalid_utf8(draw: st.DrawFn) -> Hostile:
    body = json.dumps(hostile_base(), ensure_ascii=False).encode()
    bad = draw(
        st.sampled_from((b"\xff", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8"))
    )
    at = draw(st.integers(0, len(body)))
    return Hostile("invalid-utf8", body[:at] + bad + body[at:])


@st.composite
def _not_a_number(draw: st.DrawFn) -> Hostile:
    token = draw(
        st.sampled_from(("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E+999"))
        | st.integers(310, 6_000).map(lambda n: "9" * n)
        | st.integers(310, 6_000).map(lambda n: "-1" + "0" * n)
    )
    field, place = draw(_place())
    return Hostile("number", _with_fragment(place, token), field)


@st.composite
def _repeated_key(draw: st.DrawFn) -> Hostile:
    doc = json.dumps(hostile_base(), ensure_ascii=False)
    if draw(st.booleans()):
        body = doc.replace('{"id": ', '{"id": "evt-other", "id": ', 1)
        return Hostile("repeated-key", body.encode(), "id")
    body = doc.replace('"title": ', '"title": "Khác", "title": ', 1)
    return Hostile("repeated-key", body.encode(), "article.title")


@st.composite
def _not_an_object(draw: st.DrawFn) -> Hostile:
    value = draw(
        st.sampled_from(("[]", "[{}]", '"evt"', "0", "-1.5", "null", "true", "false"))
        | st.lists(st.just(HOSTILE_BASE), min_size=1, max_size=2).map(json.dumps)
        | st.text(max_size=20).map(lambda s: json.dumps(s))
    )
    return Hostile("not-an-object", value.encode())


@st.composite
def _empty_or_garbage(draw: st.DrawFn) -> Hostile:
    doc = json.dumps(hostile_base(), ensure_ascii=False).encode()
    body = draw(
        st.sampled_from((b"", b" ", b"\n\t ", b"\xef\xbb\xbf", b"{", b"}", b"{}x", b"\x00"))
        | st.integers(1, len(doc) - 1).map(lambda i: doc[:i])
        | st.binary(max_size=40)
        | st.just(doc + b" trailing")
        | st.just(doc.replace(b"heritage", b"heri\x01tage").replace(b"Ho\xc3\xa0i", b"\x1b[2J"))
        | st.just(doc.replace(b'"Ph', b"'Ph"))
    )
    return Hostile("garbage", body, field="")  # "{}" is possible: then "type" is named


@st.composite
def _bom(draw: st.DrawFn) -> Hostile:
    inner = draw(st.one_of(_deep(), _not_a_number(), _not_an_object()))
    return Hostile(f"bom+{inner.kind}", b"\xef\xbb\xbf" + inner.body, inner.field, inner.rejected)


@st.composite
def _unprintable_keys(draw: st.DrawFn) -> Hostile:
    key = draw(
        st.sampled_from(("[/bold]", "\\u001b[31m", "a.b", "", " "))
        | st.text(min_size=200, max_size=2_000)
    )
    base = json.dumps(hostile_base(), ensure_ascii=False)
    key_json = json.dumps(key, ensure_ascii=False) if "\\u" not in key else f'"{key}"'
    body = base.replace('"type": "article.published"', f'"type": NaN, {key_json}: 1', 1)
    return Hostile("odd-key", body.encode("utf-8", "surrogatepass"), "type")


def hostile_bodies() -> st.SearchStrategy[Hostile]:
    """Raw bodies of every hostile kind: deep nesting, lone surrogates, invalid UTF-8,
    NaN/Infinity and out-of-range numbers, repeated keys, a BOM, non-objects, empty and
    broken bodies, keys made to break terminals or paths."""
    return st.one_of(
        _deep(),
        _surrogate(),
        _invalid_utf8(),
        _not_a_number(),
        _repeated_key(),
        _not_an_object(),
        _empty_or_garbage(),
        _bom(),
        _unprintable_keys(),
    )


class _Opaque:
    """An object that is not JSON and whose repr fails."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _not_json_scalars() -> st.SearchStrategy[object]:
    return st.sampled_from(
        (
            float("nan"),
            float("inf"),
            -float("inf"),
            10**5000,
            -(10**400),
            datetime(2026, 11, 20, tzinfo=UTC),
            Decimal("1.5"),
            b"bytes",
            {1, 2},
            _Opaque(),
        )
    )


@st.composite
def hostile_values(draw: st.DrawFn) -> tuple[object, str]:
    """A Python value handed to ``syndication.publish`` that no event can be, and the path
    its rejection must name: non-JSON values, non-string keys, deep nesting, cycles."""
    choice = draw(st.sampled_from(("scalar", "key", "deep", "cycle", "surrogate-text")))
    doc: Any = hostile_base(draw(st.integers(1, 10**6)))
    field, place = draw(_place())
    target = doc
    for step in place[:-1]:
        target = target[step]
    if choice == "scalar":
        target[place[-1]] = draw(_not_json_scalars())
    elif choice == "key":
        target[place[-1]] = {draw(st.sampled_from((1, None, 2.5, ("t",)))): "x"}
    elif choice == "deep":
        target[place[-1]] = deep_value(draw(st.sampled_from((65, 1_000, 100_000))))
    elif choice == "cycle":
        loop: dict[str, object] = {}
        loop["self"] = loop
        target[place[-1]] = loop
    else:
        doc["article"]["title"] = "Hội\ud800An"
        doc["type"] = float("nan")
        return doc, "type"
    return doc, field
