"""The log redaction processor: secrets never reach a log line."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from syndication.errors import TransientError
from syndication.logging import configure_logging, redact, remember_secrets, scrub
from syndication.platforms.base import AdapterSettings


def test_secret_looking_keys_are_redacted() -> None:
    """Values under token, secret, password or authorization keys are replaced."""
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "access_token": "t0k",
            "Authorization": "Bearer a",
            "client_secret": "s",
            "post_id": "p1",
        },
    )
    assert event == {
        "event": "x",
        "access_token": "[redacted]",
        "Authorization": "[redacted]",
        "client_secret": "[redacted]",
        "post_id": "p1",
    }


def test_passwords_inside_urls_are_masked() -> None:
    """A Redis URL with a password is logged with the password masked."""
    event = redact(None, "info", {"event": "x", "url": "redis://user:hunter2@db.example:6379/0"})
    assert event["url"] == "redis://user:***@db.example:6379/0"


def test_json_lines_off_a_terminal(capsys) -> None:
    """Off a terminal each log entry is one JSON line on stderr, secrets redacted."""
    configure_logging("INFO", json_output=True)
    try:
        structlog.get_logger("t").info("post.sent", post_id="p1", token="abc123")
        line = capsys.readouterr().err.strip().splitlines()[-1]
        doc = json.loads(line)
        assert (
            doc["event"] == "post.sent" and doc["post_id"] == "p1" and doc["token"] == "[redacted]"
        )
        assert "abc123" not in line
    finally:
        structlog.reset_defaults()


def _restore_logging(handlers: list[logging.Handler], level: int) -> None:
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("POST http://h/bot123456:AAH-bot-token-value/sendMessage", "AAH-bot-token-value"),
        ("GET https://graph.example/v21.0/me?fields=id&access_token=EAAB0a1b2c3", "EAAB0a1b2c3"),
        ("headers: {'Authorization': 'Bearer eyJhbGciOi.payload.sig'}", "eyJhbGciOi"),
        ("{b'Authorization': b'OAuth oauth_consumer_key=\"ck1\", oauth_token=\"t0k\"'}", "t0k"),
        ('Collected params: [("oauth_token", "t0k2"), ("oauth_nonce", "1")]', "t0k2"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==\r\nHost: h", "dXNlcjpwYXNzd29yZA"),
        ("broker redis://:hunter2hunter2@db.example:6379/0", "hunter2hunter2"),
        ("base string oauth_token%3Dat-1234%26oauth_nonce%3D1", "at-1234"),
    ],
)
def test_secret_patterns_are_scrubbed_from_any_text(line: str, secret: str) -> None:
    """Token-carrying URLs, headers and OAuth parameters lose their secret part."""
    scrubbed = scrub(line)
    assert secret not in scrubbed
    assert "[redacted]" in scrubbed or "***@" in scrubbed


def test_known_secret_values_are_scrubbed_in_every_encoding() -> None:
    """A remembered credential is replaced as is, percent-encoded and double-encoded."""
    remember_secrets(["s3cr3t/with+chars=="])
    for form in (
        "s3cr3t/with+chars==",
        "s3cr3t%2Fwith%2Bchars%3D%3D",
        "s3cr3t%252Fwith%252Bchars%253D%253D",
    ):
        assert "s3cr3t" not in scrub(f"x {form} y"), form


def test_adapter_credentials_are_remembered_but_account_names_are_not() -> None:
    """Building an adapter's settings makes its secrets scrubbable; a handle stays readable."""
    AdapterSettings(credentials={"app_password": "zq9-app-pass-word", "handle": "news.example"})
    assert scrub("zq9-app-pass-word news.example") == "[redacted] news.example"


def test_platform_errors_never_carry_a_token_in_message_args_or_repr() -> None:
    """A platform message that echoes a token-bearing URL is scrubbed at construction."""
    exc = TransientError("telegram", "GET http://h/bot42:AAE-leaky-token-x/getMe: 502")
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        assert "AAE-leaky-token-x" not in text


def test_library_loggers_are_json_and_scrubbed_at_debug(capsys) -> None:
    """httpx's INFO request line and an oauthlib DEBUG line pass through the redaction."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("DEBUG", json_output=True)
    try:
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s"', "POST", "http://t/bot9:AAE-httpx-token1/sendMessage", "OK"
        )
        logging.getLogger("oauthlib").debug("Collected params: %s", [("oauth_token", "tok-99x")])
        try:
            raise ValueError("refused: https://t/bot9:AAE-traceback-token/getMe")
        except ValueError:
            logging.getLogger("kombu").exception("failed")
        err = capsys.readouterr().err
    finally:
        _restore_logging(*saved)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [d["logger"] for d in lines] == ["httpx", "oauthlib", "kombu"]
    for secret in ("AAE-httpx-token1", "tok-99x", "AAE-traceback-token"):
        assert secret not in err
    assert "ValueError" in lines[2]["exception"]
