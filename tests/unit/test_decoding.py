"""The hostile-input edge, pure: every payload ends in a valid event or field-named errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndication.cli.publish import split_documents
from syndication.decoding import (
    MAX_DEPTH,
    array_items,
    check_value,
    decode_json,
    plain_strings,
    raw_text,
)
from syndication.errors import EventValidationError
from syndication.events import event_id_of, parse_event, parse_event_json
from tests.strategies import (
    Hostile,
    deep_fragment,
    deep_value,
    hostile_base,
    hostile_bodies,
    hostile_values,
)


def errors_of(raw: object) -> list[str]:
    """The errors ``raw`` is rejected with (fails when it is accepted)."""
    with pytest.raises(EventValidationError) as caught:
        if isinstance(raw, str | bytes):
            parse_event_json(raw)
        else:
            parse_event(raw)
    return [str(e) for e in caught.value.errors]


def assert_field_named(exc: EventValidationError, field: str) -> None:
    """Every error has a path and a message, and one names ``field`` (or the document)."""
    assert exc.errors
    for error in exc.errors:
        assert error.path and error.message
        assert str(error) == f"{error.path}: {error.message}"
        str(error).encode("utf-8")  # printable anywhere: no lone surrogate survives
    assert any(e.path == "event" or e.path.startswith(field) for e in exc.errors), exc.errors


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_deep_nesting_at_any_depth_is_rejected_by_field(depth: int) -> None:
    """Arrays or objects nested past the limit are refused, as text and as Python values."""
    for fragment in (deep_fragment(depth, "["), deep_fragment(depth, "{")):
        [error] = errors_of(fragment)
        assert error in (
            f"event: nested deeper than {MAX_DEPTH} levels",
            "event: expected a JSON object, got an array",
            f"{'.'.join(['a'] * MAX_DEPTH)}: nested deeper than {MAX_DEPTH} levels",
        )
        body = json.dumps(hostile_base()).replace('"hoi-an"', fragment)
        [error] = errors_of(body)
        assert error.startswith(("event: nested", "article.tags[0]"))
    deep = {**hostile_base(), "article": {**hostile_base()["article"], "tags": deep_value(depth)}}  # type: ignore[dict-item]
    [error] = errors_of(deep)
    assert error.startswith("article.tags[0][0]") and error.endswith("nested deeper than 64 levels")


def test_a_value_that_contains_itself_is_rejected_not_recursed() -> None:
    """A cyclic structure handed to the Python API is reported, not walked forever."""
    loop: dict[str, object] = {"type": "article.published"}
    loop["article"] = loop
    [error] = errors_of(loop)
    assert error.startswith("article.article.") and error.endswith("nested deeper than 64 levels")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("NaN", "id: NaN is not a JSON number"),
        ("Infinity", "id: Infinity is not a JSON number"),
        ("-Infinity", "id: -Infinity is not a JSON number"),
        ("1e400", "id: number out of range (beyond an IEEE 754 double)"),
        ("9" * 5_000, "id: number out of range (5000 digits, beyond an IEEE 754 double)"),
        ("-" + "9" * 400, "id: number out of range (400 digits, beyond an IEEE 754 double)"),
    ],
)
def test_non_finite_and_out_of_range_numbers_name_their_field(token: str, message: str) -> None:
    """NaN, Infinity and numbers beyond a double are refused where they stand (I-JSON)."""
    body = json.dumps(hostile_base()).replace('"evt-hostile-1"', token)
    assert errors_of(body) == [message]


def test_python_numbers_that_json_cannot_carry_are_rejected() -> None:
    """NaN, infinities and integers too long to print are refused from Python too."""
    doc = hostile_base()
    doc["id"], doc["extra"] = float("nan"), 10**5000
    assert errors_of(doc) == [
        "id: nan is not a JSON number",
        "extra: number out of range (beyond a double)",
    ]


def test_repeated_keys_are_rejected_by_field() -> None:
    """A key given twice is ambiguous (parsers disagree on which wins), so it is refused."""
    body = json.dumps(hostile_base()).replace('{"id": ', '{"id": "evt-x", "id": ', 1)
    assert errors_of(body) == ["id: repeated key (each key may appear once)"]
    assert event_id_of(body) is None  # neither of the two ids is trusted


def test_invalid_utf8_is_rejected_with_its_offset() -> None:
    """Bytes that are not UTF-8 are named with the first bad byte and where it is."""
    assert errors_of(b'{"id": "\xff"}') == ["event: not valid UTF-8 (byte 0xff at offset 8)"]
    assert errors_of(b'{"a": "\xed\xa0\x80"}') == ["event: not valid UTF-8 (byte 0xed at offset 7)"]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    """RFC 8259 lets a parser ignore a BOM: bytes and text with one parse like without."""
    body = json.dumps(hostile_base(), ensure_ascii=False)
    assert parse_event_json(b"\xef\xbb\xbf" + body.encode()).event.id == "evt-hostile-1"
    assert parse_event_json("\ufeff" + body).event.id == "evt-hostile-1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", "event: expected a JSON object, got an array"),
        ('"evt"', "event: expected a JSON object, got a string"),
        ("42", "event: expected a JSON object, got a number"),
        ("null", "event: expected a JSON object, got null"),
        ("true", "event: expected a JSON object, got a boolean"),
        ("", "event: empty: expected a JSON object"),
        (" \n", "event: empty: expected a JSON object"),
        ("\ufeff", "event: empty: expected a JSON object"),
    ],
)
def test_non_objects_and_empty_bodies_are_rejected_as_the_event(body: str, message: str) -> None:
    """Anything but a JSON object is refused as a whole, named ``event``."""
    assert errors_of(body) == [message]


def test_python_values_that_are_not_json_are_rejected_by_field() -> None:
    """datetime, sets, bytes and non-string keys from Python are named where they stand."""
    doc = hostile_base()
    doc["occurred_at"] = datetime(2026, 1, 1, tzinfo=UTC)
    doc["article"]["tags"] = [{1, 2}]  # type: ignore[index]
    doc["extra"] = {7: "x"}
    assert errors_of(doc) == [
        "occurred_at: not a JSON value (datetime)",
        "article.tags[0]: not a JSON value (set)",
        "extra: key 7 is not a string",
    ]


def test_lone_surrogates_are_removed_from_text_and_escaped_in_paths() -> None:
    """A lone surrogate in text goes like any XML-illegal character (with a warning); in a
    key it never reaches a message unescaped."""
    body = json.dumps(hostile_base()).replace('"Ph', '"\\ud83dPh').replace('"extra', '"x')
    body = body[:-1] + ', "\\udc00\\u001b[2J": "\\udfff"}'
    parsed = parse_event_json(body)
    assert parsed.event.article.title == "Phố cổ Hội An"  # type: ignore[union-attr]
    assert parsed.warnings == (
        "article.title: removed 1 character(s) not allowed in XML",
        "\\udc00\\x1b[2J: removed 1 character(s) not allowed in XML",
    )


def test_errors_are_bounded_however_many_fields_are_wrong() -> None:
    """Thousands of bad values give a readable list and a count, not thousands of lines."""
    doc = hostile_base()
    doc["article"]["authors"] = [{}] * 5_000  # type: ignore[index]
    errors = errors_of(doc)
    assert len(errors) == 51 and errors[-1] == "event: 4950 more error(s) not listed"
    doc["article"]["authors"] = [float("nan")] * 5_000  # type: ignore[index]
    errors = errors_of(doc)
    assert len(errors) == 21 and errors[-1] == "event: 4980 more problem(s) not listed"


def test_claimed_event_ids_are_kept_only_when_they_follow_the_id_rule() -> None:
    """Only an id that could be valid is used (it becomes part of a Redis key)."""
    assert event_id_of('{"id": " evt-1 "}') == "evt-1"
    for bad in ('{"id": "evt *"}', '{"id": "a\\ud800"}', '{"id": 5}', "[", '{"id": "x' * 300):
        assert event_id_of(bad) is None
    assert event_id_of(b'{"id": "\xff"}') is None
    assert event_id_of({"id": "evt-2"}) == "evt-2" and event_id_of(["evt-3"]) is None


@settings(max_examples=300, deadline=None)
@given(hostile_bodies())
def test_hostile_bodies_get_field_named_errors_never_a_crash(hostile: Hostile) -> None:
    """Each hostile body parses into an event or fails with field-named errors only."""
    try:
        parsed = parse_event_json(hostile.body)
    except EventValidationError as exc:
        assert_field_named(exc, hostile.field)
        return
    assert not hostile.rejected, hostile.kind
    json.dumps(parsed.to_json(), ensure_ascii=False).encode("utf-8")  # storable as is


@settings(max_examples=100, deadline=None)
@given(hostile_values())
def test_hostile_python_values_are_rejected_by_field(case: tuple[object, str]) -> None:
    """Non-JSON values, odd keys, deep or cyclic structures from Python: named, never a crash."""
    value, field = case
    with pytest.raises(EventValidationError) as caught:
        parse_event(value)
    assert_field_named(caught.value, field)


def _unescape_surrogates(text: str) -> str:
    return re.sub(r"\\u(d[89a-f][0-9a-f]{2})", lambda m: chr(int(m[1], 16)), text)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=100)
    | st.text(st.characters(codec=None), max_size=100)
    | hostile_bodies().map(lambda h: h.body)
)
def test_any_payload_becomes_bounded_utf8_text(raw: bytes | str) -> None:
    """Whatever is kept as a dead letter encodes as UTF-8 within the bound; valid text is kept
    exactly, lone surrogates round-trip through their escapes, and any change has a note."""
    kept = raw_text(raw, 256)
    assert len(kept.text.encode("utf-8")) <= 256
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "surrogateescape")
    if isinstance(raw, bytes) and any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
        assert kept.note and "\\xNN" in kept.note  # bytes that are not UTF-8
    elif len(text.encode("utf-8", "surrogatepass")) > 256:
        assert kept.note and "cut to the first 256" in kept.note
    elif any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert kept.note == "lone surrogates are written as \\uXXXX"
        if "\\u" not in text:
            assert _unescape_surrogates(kept.text) == text
    else:
        assert kept.text == text and kept.note is None


def test_python_values_that_are_not_json_are_kept_as_a_bounded_repr() -> None:
    """Cycles, huge integers and objects whose repr fails are still kept, with a note."""
    loop: dict[str, object] = {}
    loop["self"] = loop
    for value in (loop, {"n": 10**5000}, deep_value(100_000)):
        kept = raw_text(value, 10_000)
        assert kept.note == "not JSON: written as a Python repr" and len(kept.text) < 2_000
    kept = raw_text({"at": datetime(2026, 1, 1, tzinfo=UTC)}, 10_000)
    assert kept.text.startswith('{"at": "datetime.datetime(2026')
    assert kept.note == "values that are not JSON (datetime) are written as their Python repr"


def test_raw_payloads_are_cut_at_the_bound_with_a_note() -> None:
    """A payload over the bound keeps its start, cut on a character boundary."""
    kept = raw_text("Hội An " * 1_000, 100)
    assert len(kept.text.encode()) <= 100 and kept.text.startswith("Hội An Hội")
    assert kept.note == "cut to the first 100 of 9,000 bytes"


def test_array_items_are_the_elements_exactly_as_written() -> None:
    """Each element of a JSON array is its own source text (repeats and NaN included)."""
    text = '[ {"id": "a", "id": "b"} , NaN,\n"x"]'
    assert array_items(text) == ['{"id": "a", "id": "b"}', "NaN", '"x"']
    assert array_items("[]") == [] and array_items("[1,]") is None
    assert array_items("[1] [2]") is None and array_items(deep_fragment(5_000)) is None


def test_cli_input_is_split_into_events_as_written() -> None:
    """An object, an array or JSON Lines (with a BOM, a non-UTF-8 line, blank lines) split
    into per-event source texts."""
    assert split_documents(b"") == [""]
    assert split_documents(b'\xef\xbb\xbf{"id": 1}') == ['{"id": 1}']
    assert split_documents(b'[{"id": 1}, {"id": 2, "id": 3}]') == [
        '{"id": 1}',
        '{"id": 2, "id": 3}',
    ]
    lines = b'{"id": 1}\r\n\n\xff\xfe\n{broken\n{"t": "a\xe2\x80\xa8b"}\n'
    assert split_documents(lines) == ['{"id": 1}', b"\xff\xfe", "{broken", '{"t": "a\u2028b"}']
    deep = deep_fragment(100_000).encode()
    assert split_documents(deep) == [deep.decode()]


def test_check_value_accepts_plain_json() -> None:
    """The base event, as decoded JSON, has nothing to report."""
    assert check_value(hostile_base()) == []


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**1100), max_value=2**1100),  # beyond a double, both ways
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.dictionaries(st.integers(), inner, min_size=1, max_size=2),  # a key not a string
    ),
    max_leaves=30,
)


@given(_VALUES)
@settings(max_examples=300, deadline=None)
def test_the_fast_walk_agrees_with_check_value(value: object) -> None:
    """plain_strings (the fast walk events take first) accepts exactly the objects and
    arrays check_value finds no problem in, and collects the same strings."""
    strings: list[str] = []
    problems = check_value(value, strings=strings)
    fast = plain_strings(value)
    if isinstance(value, dict | list):
        assert (fast is not None) == (problems == []), (value, problems)
    if fast is not None:
        assert problems == [] and sorted(fast) == sorted(strings)


def test_the_fast_walk_hands_deep_and_repeated_values_to_check_value() -> None:
    """Too deep, or a key repeated (decoded by decode_json): the fast walk declines, and
    check_value names the problem."""
    deep = deep_value(MAX_DEPTH + 1)
    assert plain_strings(deep) is None and check_value(deep)
    assert plain_strings(deep_value(MAX_DEPTH)) is not None
    repeated = decode_json('{"a": 1, "a": 2}')
    assert plain_strings(repeated) is None
    assert [e.path for e in check_value(repeated)] == ["a"]
