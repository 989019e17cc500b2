"""Telegram channel posts through the Bot API, with httpx.

The bot token is part of every URL (``/bot<token>/<method>``), so any httpx exception, whose
request carries that URL, is caught here and replaced by one of our errors raised ``from
None``: neither the message nor the chained cause can leak the token.

Telegram has no idempotency key: a read timeout after the request went out may have
delivered the message, so it is an :class:`UncertainOutcome`; only failures known to precede
sending (connection refused, DNS, connect timeout) are :class:`TransientError`. Bots cannot
read a channel's history, so an uncertain send cannot be reconciled by looking.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import ClassVar

import httpx

from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, OutgoingPost, PostResult, RateInfo

__all__ = ["CAPTION_LIMIT", "TEXT_LIMIT", "TelegramAdapter", "escape_html"]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_DEFAULT_BASE_URL = "https://api.telegram.org"
_PHOTO = "photo"

# Descriptions meaning the goal is already reached; Telegram answers 400 for both.
_ALREADY_GONE = ("message to delete not found",)
_NOT_MODIFIED = ("message is not modified",)


def escape_html(text: str) -> str:
    """Escape text for ``parse_mode=HTML``: only ``&``, ``<`` and ``>`` are special."""
    return html.escape(text, quote=False)


def _split_remote_id(remote_id: str) -> tuple[str, str, bool]:
    """``<chat_id>/<message_id>[/photo]`` → (chat id, message id, is a photo)."""
    parts = remote_id.split("/")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise PermanentError("telegram", f"remote_id: not a Telegram message id: {remote_id!r}")
    return parts[0], parts[1], len(parts) == 3 and parts[2] == _PHOTO


class TelegramAdapter:
    """One Telegram channel, posted to by one bot.

    Credentials: ``bot_token``. Options: ``chat_id`` (``@channel`` or ``-100…``).
    """

    name: ClassVar[str] = "telegram"
    idempotent: ClassVar[bool] = False
    can_edit: ClassVar[bool] = True

    def __init__(self, settings: AdapterSettings) -> None:
        token = settings.credentials.get("bot_token", "")
        chat_id = settings.options.get("chat_id", "")
        if not token:
            raise PermanentError("telegram", "credentials.bot_token: missing")
        if not chat_id:
            raise PermanentError("telegram", "options.chat_id: missing")
        self._token = token
        self._chat_id = chat_id
        self._base_url = (settings.base_url or _DEFAULT_BASE_URL).rstrip("/")
        self._client = httpx.Client(timeout=settings.timeout)
        self._rate = RateInfo()

    def __repr__(self) -> str:
        return f"TelegramAdapter(chat_id={self._chat_id!r})"

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- the Protocol ---------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Send the post as a photo with a caption when it has an image that fits, else text."""
        if post.media and len(post.text) <= CAPTION_LIMIT:
            image = post.media[0]
            result = self._call(
                "sendPhoto",
                data={
                    "chat_id": self._chat_id,
                    "caption": escape_html(post.text),
                    "parse_mode": "HTML",
                },
                files={"photo": (image.filename, image.data, image.content_type)},
                writes=True,
            )
            return self._result(result, photo=True)
        result = self._call("sendMessage", json=self._message_body(post), writes=True)
        return self._result(result, photo=False)

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace the text (or the caption, for a photo) of a sent message."""
        chat_id, message_id, is_photo = _split_remote_id(remote_id)
        if is_photo:
            body: dict[str, object] = {
                "chat_id": chat_id,
                "message_id": int(message_id),
                "caption": escape_html(post.text[:CAPTION_LIMIT]),
                "parse_mode": "HTML",
            }
            method = "editMessageCaption"
        else:
            body = {**self._message_body(post), "chat_id": chat_id, "message_id": int(message_id)}
            method = "editMessageText"
        try:
            # Editing to the same text twice changes nothing, so an edit is safe to repeat.
            self._call(method, json=body, writes=False)
        except PermanentError as exc:
            if not any(phrase in str(exc) for phrase in _NOT_MODIFIED):
                raise
        return PostResult(remote_id=remote_id, url=self._url(chat_id, message_id, None))

    def delete(self, remote_id: str) -> None:
        """Delete a sent message; one already deleted is not an error."""
        chat_id, message_id, _ = _split_remote_id(remote_id)
        try:
            self._call(
                "deleteMessage",
                json={"chat_id": chat_id, "message_id": int(message_id)},
                writes=False,
            )
        except PermanentError as exc:
            if not any(phrase in str(exc) for phrase in _ALREADY_GONE):
                raise

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Bots cannot list a channel's messages, so a lost send cannot be looked up."""
        raise PermanentError("telegram", "find: the Bot API cannot read channel history")

    def verify(self) -> str:
        """Call ``getMe`` and return the bot's ``@username``."""
        result = self._call("getMe", json={}, writes=False)
        username = result.get("username") if isinstance(result, Mapping) else None
        return f"@{username}" if isinstance(username, str) else "telegram bot"

    def rate_info(self) -> RateInfo:
        """Telegram sends no rate headers; after a 429 this holds when it allows more."""
        return self._rate

    # -- HTTP -----------------------------------------------------------------------------

    def _message_body(self, post: OutgoingPost) -> dict[str, object]:
        body: dict[str, object] = {
            "chat_id": self._chat_id,
            "text": escape_html(post.text),
            "parse_mode": "HTML",
        }
        if post.link:
            # Preview the article's link even when the text mentions other URLs first.
            body["link_preview_options"] = {"url": post.link, "prefer_large_media": True}
        return body

    def _url(self, chat_id: str, message_id: str, username: str | None) -> str | None:
        if username:
            return f"https://t.me/{username}/{message_id}"
        if chat_id.startswith("@"):
            return f"https://t.me/{chat_id[1:]}/{message_id}"
        if chat_id.startswith("-100"):
            return f"https://t.me/c/{chat_id[4:]}/{message_id}"
        return None

    def _result(self, result: object, *, photo: bool) -> PostResult:
        if not isinstance(result, Mapping) or not isinstance(result.get("message_id"), int):
            raise UncertainOutcome("telegram", "sent, but the answer has no message_id")
        message_id = str(result["message_id"])
        chat = result.get("chat")
        username = chat.get("username") if isinstance(chat, Mapping) else None
        remote_id = f"{self._chat_id}/{message_id}" + (f"/{_PHOTO}" if photo else "")
        return PostResult(
            remote_id=remote_id,
            url=self._url(
                self._chat_id, message_id, username if isinstance(username, str) else None
            ),
        )

    def _call(
        self,
        method: str,
        *,
        json: Mapping[str, object] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        writes: bool,
    ) -> object:
        """POST one Bot API method and return its ``result``, or raise a mapped error.

        Args:
            writes: The call publishes something, so a lost answer leaves the outcome unknown.
        """
        url = f"{self._base_url}/bot{self._token}/{method}"
        try:
            response = self._client.post(url, json=json, data=data, files=files)
            body = response.json()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(
                "telegram", f"{method}: could not connect ({exc.__class__.__name__})"
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            # The request may have reached Telegram; the token-bearing URL stays out (from None).
            error_class: type[PlatformError] = UncertainOutcome if writes else TransientError
            raise error_class(
                "telegram", f"{method}: no usable answer ({exc.__class__.__name__})"
            ) from None
        if isinstance(body, Mapping) and body.get("ok") is True:
            return body.get("result")
        raise self._error(method, response.status_code, body, writes=writes)

    def _error(self, method: str, status: int, body: object, *, writes: bool) -> PlatformError:
        description = ""
        parameters: Mapping[str, object] = {}
        if isinstance(body, Mapping):
            description = str(body.get("description", ""))
            status = int(body.get("error_code", status))
            params = body.get("parameters")
            if isinstance(params, Mapping):
                parameters = params
        # A Bot API description never contains the token, but redact in case it echoes a URL.
        description = description.replace(self._token, "[redacted]") or f"HTTP {status}"
        message = f"{method}: {description}"
        if status == 429:
            retry_after = parameters.get("retry_after", 1)
            seconds = float(retry_after) if isinstance(retry_after, int | float) else 1.0
            self._rate = RateInfo(remaining=0, reset_at=time.time() + seconds)
            return RateLimited("telegram", message, retry_after=seconds, status=status)
        if status >= 500:
            if writes:
                return UncertainOutcome("telegram", message, status=status)
            return TransientError("telegram", message, status=status)
        # 400 (bad request, chat migrated), 401 (bad token), 403 (bot not admin), 404.
        return PermanentError("telegram", message, status=status)
