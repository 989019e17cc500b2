"""The log redaction processor: secrets never reach a log line."""

from __future__ import annotations

import json

import structlog

from syndication.logging import configure_logging, redact


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
