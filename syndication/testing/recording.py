"""What a sandbox records of each request: method, path, headers, body parsed by its type."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["FaultKind", "RecordedRequest", "UploadedFile", "parse_body", "request_record"]

FaultKind = Literal["fail", "drop", "delay", "drop_after"]


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart/form-data body."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox received it.

    ``headers`` has lower-case names. ``json`` is the parsed body for JSON requests, ``form`` the
    fields of url-encoded or multipart bodies (file parts are in ``files``), ``query`` the query
    string (last value wins for repeated names).
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    json: Any = None
    form: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, UploadedFile] = field(default_factory=dict)
    # Which injected fault answered it, if any.
    fault: FaultKind | None = None
    # Every (name, value) form field in order, for repeated names such as ``media_ids[]``.
    form_pairs: tuple[tuple[str, str], ...] = ()

    def form_list(self, name: str) -> list[str]:
        """All values of a repeated form field, in order."""
        return [value for key, value in self.form_pairs if key == name]


def request_record(request: Request) -> RecordedRequest:
    """The :class:`RecordedRequest` the sandbox middleware attached to ``request``."""
    record: RecordedRequest = request.scope["sandbox.record"]
    return record


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[list[tuple[str, str]], dict[str, UploadedFile]]:
    # The stdlib e-mail parser reads multipart/form-data well enough for a test server, and
    # spares the sandbox a python-multipart dependency.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    form: list[tuple[str, str]] = []
    files: dict[str, UploadedFile] = {}
    if not message.is_multipart():
        return form, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        filename = part.get_filename()
        if filename is None:
            form.append((name, payload.decode(part.get_content_charset() or "utf-8", "replace")))
        else:
            files[name] = UploadedFile(filename, part.get_content_type(), payload)
    return form, files


def parse_body(
    headers: Mapping[str, str], body: bytes
) -> tuple[Any, list[tuple[str, str]], dict[str, UploadedFile]]:
    content_type = headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return json.loads(body or b"null"), [], {}
        except ValueError:
            return None, [], {}
    if media_type == "application/x-www-form-urlencoded":
        return None, parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True), {}
    if media_type == "multipart/form-data":
        pairs, files = _parse_multipart(content_type, body)
        return None, pairs, files
    return None, [], {}
