"""A local Telegram Bot API: getMe, sendMessage, sendPhoto, edits and deleteMessage.

Routes are ``/bot<token>/<method>``, as on ``api.telegram.org``; a wrong token gets the Bot
API's 401. Parameters arrive as JSON, url-encoded or multipart (sendPhoto's photo), and every
answer is the Bot API envelope ``{"ok": ..., "result" | "error_code", "description"}``.
:meth:`TelegramSandbox.rate_limit_next` queues the Bot API's own 429 shape.
"""

from __future__ import annotations

import html.parser
import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from syndication.testing.base import SandboxServer, request_record

__all__ = ["TelegramSandbox", "html_to_text"]

_ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
     "span", "tg-spoiler", "blockquote", "tg-emoji"}
)  # fmt: skip
_TAG_START = re.compile(r"</?[a-zA-Z][a-zA-Z-]*")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class _EntityParser(html.parser.HTMLParser):
    """Telegram's HTML parse mode, strictly: unknown tags and bare ``<``/``&`` are errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS and self.error is None:
            self.error = f'Unsupported start tag "{tag}"'

    def handle_endtag(self, tag: str) -> None:
        if tag not in _ALLOWED_TAGS and self.error is None:
            self.error = f'Unsupported end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def html_to_text(markup: str) -> tuple[str, str | None]:
    """The text a reader sees for ``markup`` and the parse error Telegram would report."""
    # An unescaped "<" that does not open a tag, or a bare "&", is rejected by Telegram.
    for index, ch in enumerate(markup):
        if ch == "&":
            tail = markup[index : index + 8]
            if not any(tail.startswith(e) for e in ("&amp;", "&lt;", "&gt;", "&quot;", "&#")):
                return "", "Can't parse entities: unsupported start tag or bare & character"
        if ch == "<" and _TAG_START.match(markup, index) is None:
            return "", f"Can't parse entities: unsupported start tag at byte offset {index}"
    parser = _EntityParser()
    parser.feed(markup)
    parser.close()
    if parser.rawdata:
        return "", "Can't parse entities: unclosed start tag"
    return "".join(parser.text), parser.error


class TelegramSandbox(SandboxServer):
    """One bot (``token``) posting to channels; posts keep ``chat_id`` and the message id."""

    platform = "telegram"

    # A fake token the sandbox accepts; it grants nothing anywhere else.
    def __init__(self, token: str = "123456:TEST-token", username: str = "sandbox_bot") -> None:  # noqa: S107
        super().__init__()
        self.token = token
        self.username = username

    def routes(self) -> Sequence[BaseRoute]:
        """One route for every Bot API method; unknown methods get the Bot API's 404."""
        return [Route("/bot{token}/{method}", self._dispatch, methods=["GET", "POST"])]

    def rate_limit_next(self, retry_after: int = 3) -> None:
        """Answer the next request with Telegram's flood-control 429."""
        self.fail_next(
            429,
            body={
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def _error(self, request: Request, code: int, description: str) -> JSONResponse:
        return self.json(
            request, {"ok": False, "error_code": code, "description": description}, code
        )

    def _ok(self, request: Request, result: Any) -> JSONResponse:
        return self.json(request, {"ok": True, "result": result})

    async def _dispatch(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return self._error(request, 401, "Unauthorized")
        record = request_record(request)
        params: dict[str, Any] = {**record.query, **record.form}
        if isinstance(record.json, Mapping):
            params.update(record.json)
        method = request.path_params["method"]
        handler = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit,
            "editMessageCaption": self._edit,
            "deleteMessage": self._delete,
        }.get(method)
        if handler is None:
            return self._error(request, 404, "Not Found")
        return handler(request, method, params)

    def _message(self, post_id: str, chat_id: str, text_key: str, text: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": -1001234567890, "type": "channel"}
        if chat_id.startswith("@"):
            chat["username"] = chat_id[1:]
        return {"message_id": int(post_id), "chat": chat, "date": 0, text_key: text}

    def _get_me(self, request: Request, method: str, params: dict[str, Any]) -> JSONResponse:
        return self._ok(
            request,
            {"id": 123456, "is_bot": True, "first_name": "Sandbox", "username": self.username},
        )

    def _send_message(self, request: Request, method: str, params: dict[str, Any]) -> JSONResponse:
        chat_id = str(params.get("chat_id", ""))
        if not chat_id:
            return self._error(request, 400, "Bad Request: chat_id is empty")
        markup = str(params.get("text", ""))
        text, error = self._parse(params, markup)
        if error:
            return self._error(request, 400, f"Bad Request: {error}")
        if not text.strip():
            return self._error(request, 400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            return self._error(request, 400, "Bad Request: message is too long")
        post = self.add_post(
            text,
            chat_id=chat_id,
            markup=markup,
            kind="text",
            link_preview_options=params.get("link_preview_options"),
        )
        return self._ok(request, self._message(post.id, chat_id, "text", text))

    def _send_photo(self, request: Request, method: str, params: dict[str, Any]) -> JSONResponse:
        record = request_record(request)
        chat_id = str(params.get("chat_id", ""))
        photo = record.files.get("photo")
        if photo is None and not params.get("photo"):
            return self._error(request, 400, "Bad Request: there is no photo in the request")
        markup = str(params.get("caption", ""))
        text, error = self._parse(params, markup)
        if error:
            return self._error(request, 400, f"Bad Request: {error}")
        if len(text) > CAPTION_LIMIT:
            return self._error(request, 400, "Bad Request: message caption is too long")
        post = self.add_post(
            text,
            chat_id=chat_id,
            markup=markup,
            kind="photo",
            photo_bytes=len(photo.data) if photo else 0,
            photo_type=photo.content_type if photo else None,
        )
        result = self._message(post.id, chat_id, "caption", text)
        result["photo"] = [{"file_id": f"photo-{post.id}", "width": 1, "height": 1}]
        return self._ok(request, result)

    def _edit(self, request: Request, method: str, params: dict[str, Any]) -> JSONResponse:
        post = self.get_post(str(params.get("message_id", "")))
        if post is None or post.deleted:
            return self._error(request, 400, "Bad Request: message to edit not found")
        key = "caption" if method == "editMessageCaption" else "text"
        if (key == "caption") != (post.data.get("kind") == "photo"):
            return self._error(request, 400, "Bad Request: there is no text in the message to edit")
        markup = str(params.get(key, ""))
        text, error = self._parse(params, markup)
        if error:
            return self._error(request, 400, f"Bad Request: {error}")
        if text == post.text:
            return self._error(
                request,
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        self.edit_post(post.id, text, markup=markup)
        return self._ok(request, self._message(post.id, str(post.data["chat_id"]), key, text))

    def _delete(self, request: Request, method: str, params: dict[str, Any]) -> JSONResponse:
        if self.delete_post(str(params.get("message_id", ""))) is None:
            return self._error(request, 400, "Bad Request: message to delete not found")
        return self._ok(request, True)

    @staticmethod
    def _parse(params: Mapping[str, Any], markup: str) -> tuple[str, str | None]:
        if str(params.get("parse_mode", "")).upper() == "HTML":
            return html_to_text(markup)
        return markup, None
