"""The ``search:`` config section and IndexNow's protocol rules (pure, no services)."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import pytest

from feeds.indexnow import (
    classify,
    is_on_host,
    key_location,
    read_key,
    request_body,
    retry_after_seconds,
    revision_token,
)
from syndication.config import load_config
from syndication.config.search import IndexNowConfig
from syndication.errors import ConfigError

KEY = "3f9a5c1e7b2d4f6a8c0e"


def write(tmp_path: Path, yaml: str) -> Path:
    """A config folder holding one search.yaml."""
    (tmp_path / "search.yaml").write_text(yaml, encoding="utf-8")
    return tmp_path


def test_without_a_search_section_sitemaps_are_on_and_indexnow_off(tmp_path: Path) -> None:
    """The defaults: news sitemaps for every language, no IndexNow."""
    config = load_config(tmp_path)
    assert config.search.sitemaps.enabled and config.search.indexnow is None


def test_a_full_search_section_is_read(tmp_path: Path) -> None:
    """Every key of the section is read, the host lower-cased."""
    config = load_config(
        write(
            tmp_path,
            """
search:
  sitemaps: {enabled: true, publication_names: {vi: "Báo Mẫu", ja: "ベトナム新聞"}}
  indexnow:
    endpoint: https://search.example/indexnow
    host: Portal.Example
    key_env: PORTAL_INDEXNOW_KEY
    key_location: https://portal.example/keys/indexnow.txt
    batch_size: 500
    batch_window: 2
""",
        )
    )
    indexnow = config.search.indexnow
    assert indexnow is not None and indexnow.host == "portal.example"
    assert indexnow.batch_size == 500 and indexnow.key_env == "PORTAL_INDEXNOW_KEY"
    assert config.search.sitemaps.publication_names["ja"] == "ベトナム新聞"


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "search: {indexnow: {endpoint: https://x.example/}}",
            "search.indexnow.host: required",
        ),
        (
            "search: {indexnow: {host: https://portal.example/}}",
            "search.indexnow.host: a host name such as portal.example",
        ),
        (
            "search: {indexnow: {host: a.example, key_env: 0123abcd}}",
            "search.indexnow.key_env: must name an environment variable",
        ),
        (
            "search: {indexnow: {host: a.example, key_location: https://b.example/k.txt}}",
            "search.indexnow: key_location: not on host a.example",
        ),
        (
            "search: {indexnow: {host: a.example, batch_size: 10001}}",
            "search.indexnow.batch_size: expected less than or equal to 10000",
        ),
        (
            "search: {indexnow: {host: a.example, endpoint: ftp://x}}",
            "search.indexnow.endpoint: not an absolute http(s) URL",
        ),
        (
            "search: {sitemaps: {publication_names: {vi: ' '}}}",
            "search.sitemaps.publication_names: vi: must not be empty",
        ),
        ("search: {sitemap: {}}", "search.sitemap: unknown field"),
    ],
)
def test_config_errors_name_the_file_and_the_dotted_path(
    tmp_path: Path, yaml: str, message: str
) -> None:
    """Each mistake in the section is reported with the file and the dotted path."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, yaml))
    assert str(info.value).startswith(f"{tmp_path / 'search.yaml'}:1: ")
    assert message in str(info.value)


def test_the_key_comes_from_the_named_variable_or_its_file(tmp_path: Path) -> None:
    """The key is read from the variable config names, or from NAME_FILE when it is unset."""
    config = IndexNowConfig(host="portal.example")
    assert read_key(config, {"INDEXNOW_KEY": f" {KEY}\n"}) == KEY
    secret = tmp_path / "key"
    secret.write_text(KEY + "\n", encoding="utf-8")
    assert read_key(config, {"INDEXNOW_KEY_FILE": str(secret)}) == KEY


def test_a_missing_or_malformed_key_names_the_variable_never_the_value() -> None:
    """Errors say which variable is wrong; a malformed key's value is not repeated."""
    config = IndexNowConfig(host="portal.example")
    with pytest.raises(ConfigError, match="INDEXNOW_KEY is not set"):
        read_key(config, {})
    with pytest.raises(ConfigError, match="8 to 128") as info:
        read_key(config, {"INDEXNOW_KEY": "short/key"})
    assert "short/key" not in str(info.value)


def test_the_request_body_names_host_key_key_location_and_urls() -> None:
    """The body is the protocol's JSON; the key file defaults to the host's root."""
    config = IndexNowConfig(host="portal.example")
    assert request_body(config, KEY, ["https://portal.example/a"]) == {
        "host": "portal.example",
        "key": KEY,
        "keyLocation": f"https://portal.example/{KEY}.txt",
        "urlList": ["https://portal.example/a"],
    }
    moved = IndexNowConfig(host="portal.example", key_location="https://portal.example/k.txt")
    assert key_location(moved, KEY) == "https://portal.example/k.txt"


def test_only_urls_on_the_host_are_submitted() -> None:
    """A URL on another host, or not http(s), is not on the host."""
    assert is_on_host("https://Portal.example/vi/a", "portal.example")
    assert not is_on_host("https://cdn.portal.example/a", "portal.example")
    assert not is_on_host("ftp://portal.example/a", "portal.example")


def test_a_retraction_is_a_different_submission_from_the_live_revision() -> None:
    """The same revision live and retracted gives two tokens; the same state and revision one."""
    assert revision_token("live", "1.5") == revision_token("live", "1.5") == "live:1.5"
    assert revision_token("unpublished", "1.5") == "gone:1.5"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "accepted"), (202, "accepted"), (400, "refused"), (403, "refused"),
     (422, "refused"), (429, "retry"), (500, "retry"), (503, "retry")],
)  # fmt: skip
def test_answers_are_accepted_retried_or_refused_as_the_protocol_says(
    status: int, outcome: str
) -> None:
    """200/202 accept; 429 and 5xx are retried; other 4xx are refused for good."""
    assert classify(status, {}, "", 0.0).outcome == outcome


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    """Retry-After may be delay-seconds or an HTTP date; nonsense is ignored."""
    assert classify(429, {"retry-after": "7"}, "slow down", 0.0).retry_after == 7.0
    assert retry_after_seconds(formatdate(1000.0 + 30, usegmt=True), 1000.0) == 30.0
    assert retry_after_seconds("soon", 0.0) is None and retry_after_seconds(None, 0.0) is None
