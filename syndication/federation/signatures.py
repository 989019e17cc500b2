"""HTTP Signatures as the fediverse uses them: draft-cavage-http-signatures-12, rsa-sha256.

Mastodon, Fedify, Misskey and the rest sign every inbox POST (and, on some servers, every
GET) with the sending actor's RSA key: a ``Signature`` header names the key (``keyId``), the
headers covered (``(request-target) host date digest``) and carries an RSA-SHA256
(PKCS#1 v1.5) signature of those headers' *signing string*; a ``Digest: SHA-256=...``
header binds the body. Written here on ``cryptography`` because the Python packages for this
draft are unmaintained, and the rules the fediverse adds (which headers must be covered, the
Date window) are the part that matters; the draft's own test vectors are in the unit tests.

Pure: time is an argument, keys are PEM text or ``cryptography`` objects; fetching a remote
key by its ``keyId`` is the caller's business (:mod:`syndication.federation.remote`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from syndication.errors import SyndicationError

__all__ = [
    "SignatureError",
    "SignatureParams",
    "body_digest",
    "check_request",
    "generate_key_pair",
    "http_date",
    "load_private_key",
    "load_public_key",
    "parse_signature_header",
    "sign_request",
    "signing_string",
    "verify_signature",
]

# Covered by every signature we accept; POSTs must also cover ``digest``. Mastodon asks the
# same (it also accepts ``(created)`` instead of ``date``, which we do too).
REQUIRED = ("(request-target)", "host")
# What we sign: what Mastodon signs, so every server that talks to Mastodon accepts it.
SIGNED_POST: tuple[str, ...] = ("(request-target)", "host", "date", "digest", "content-type")
SIGNED_GET: tuple[str, ...] = ("(request-target)", "host", "date", "accept")
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([0-9]+))\s*(?:,|$)')
_ALGORITHMS = ("rsa-sha256", "hs2019")


class SignatureError(SyndicationError):
    """A request's signature is missing, malformed, stale or wrong (the inbox answers 401)."""


@dataclass(frozen=True)
class SignatureParams:
    """The parts of a ``Signature`` header."""

    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


def generate_key_pair(bits: int = 2048) -> tuple[str, str]:
    """A new RSA key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#8 or PKCS#1)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("key: not an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM; :class:`SignatureError` for anything else."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"publicKeyPem: not a PEM public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("publicKeyPem: not an RSA key (only rsa-sha256 is supported)")
    return key


def http_date(now: datetime) -> str:
    """``now`` as an HTTP ``Date`` header (``Sun, 05 Jan 2014 21:31:40 GMT``)."""
    return format_datetime(now.astimezone(UTC), usegmt=True)


def body_digest(body: bytes) -> str:
    """The ``Digest`` header of ``body``: ``SHA-256=<base64>``."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def parse_signature_header(value: str) -> SignatureParams:
    """Parse ``keyId="...",algorithm="...",headers="...",signature="..."``."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PARAM.match(value, pos)
        if not match:
            raise SignatureError('Signature: not a list of name="value" parameters')
        params[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
        pos = match.end()
    for name in ("keyId", "signature"):
        if not params.get(name):
            raise SignatureError(f"Signature.{name}: required")
    algorithm = params.get("algorithm", "rsa-sha256").lower()
    if algorithm not in _ALGORITHMS:
        raise SignatureError(f"Signature.algorithm: {algorithm!r} is not supported (rsa-sha256)")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError:
        raise SignatureError("Signature.signature: not base64") from None
    # The draft's default when ``headers`` is absent is ``date`` alone.
    names = tuple(h.lower() for h in params.get("headers", "date").split())

    def number(name: str) -> int | None:
        text = params.get(name)
        if text is None:
            return None
        if not text.isdigit():
            raise SignatureError(f"Signature.{name}: not a Unix time")
        return int(text)

    return SignatureParams(
        params["keyId"], algorithm, names, signature, number("created"), number("expires")
    )


def signing_string(
    method: str,
    target: str,
    headers: Mapping[str, str],
    names: Sequence[str],
    params: SignatureParams | None = None,
) -> str:
    """The text a signature covers: one ``name: value`` line per covered header.

    Args:
        target: the request's path and query (``/users/vi/inbox?x=1``).
        headers: the request's headers with lower-case names (repeated ones joined by ``, ``).
    """
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in ("(created)", "(expires)"):
            value = None if params is None else getattr(params, name[1:-1])
            if value is None:
                raise SignatureError(f"Signature.headers: {name} is covered but not given")
            lines.append(f"{name}: {value}")
        else:
            value = headers.get(name)
            if value is None:
                raise SignatureError(f"{name}: covered by the signature but missing")
            lines.append(f"{name}: {value.strip()}")
    return "\n".join(lines)


def sign_request(
    method: str,
    url: str,
    body: bytes | None,
    *,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    now: datetime,
    content_type: str = "application/activity+json",
    accept: str = "application/activity+json",
) -> dict[str, str]:
    """The headers that sign a request to ``url``: Host, Date, Digest (with a body),
    Content-Type or Accept, and Signature."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = {"host": parts.netloc, "date": http_date(now)}
    if body is not None:
        headers["digest"] = body_digest(body)
        headers["content-type"] = content_type
        names = SIGNED_POST
    else:
        headers["accept"] = accept
        names = SIGNED_GET
    text = signing_string(method, target, headers, names)
    signature = private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return headers


def check_request(
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    window: float,
) -> SignatureParams:
    """Everything about a signed request that needs no key: the header parses, it covers
    the request target, the host, the date (within ``window`` seconds of ``now``) and, for a
    POST, a ``Digest`` that matches ``body``. Returns the parsed header.
    """
    value = headers.get("signature")
    if not value:
        raise SignatureError("Signature: required (requests to an inbox must be signed)")
    params = parse_signature_header(value)
    missing = [h for h in REQUIRED if h not in params.headers]
    if "date" not in params.headers and "(created)" not in params.headers:
        missing.append("date")
    if method.upper() == "POST" and "digest" not in params.headers:
        missing.append("digest")
    if missing:
        raise SignatureError(f"Signature.headers: must cover {', '.join(missing)}")
    stamp = now.timestamp()
    if "date" in params.headers:
        try:
            sent = parsedate_to_datetime(headers.get("date", "")).timestamp()
        except (TypeError, ValueError, IndexError):
            raise SignatureError("Date: not an HTTP date") from None
        if abs(stamp - sent) > window:
            raise SignatureError(f"Date: more than {int(window)} s from now (replay or clock skew)")
    if params.created is not None and params.created > stamp + window:
        raise SignatureError("Signature.created: in the future")
    covers_created = "(created)" in params.headers
    if params.created is not None and covers_created and stamp - params.created > window:
        raise SignatureError(f"Signature.created: more than {int(window)} s ago")
    if params.expires is not None and params.expires < stamp:
        raise SignatureError("Signature.expires: the signature has expired")
    if "digest" in params.headers:
        _check_digest(headers.get("digest", ""), body)
    return params


def _check_digest(value: str, body: bytes) -> None:
    wanted = base64.b64encode(hashlib.sha256(body).digest()).decode()
    for part in value.split(","):
        algorithm, _, encoded = part.strip().partition("=")
        if algorithm.lower() == "sha-256":
            if encoded != wanted:
                raise SignatureError("Digest: does not match the body")
            return
    raise SignatureError("Digest: no SHA-256 digest given")


def verify_signature(
    params: SignatureParams,
    method: str,
    target: str,
    headers: Mapping[str, str],
    public_key: rsa.RSAPublicKey,
) -> None:
    """Check the signature with the key its ``keyId`` named; :class:`SignatureError` if wrong."""
    text = signing_string(method, target, headers, params.headers, params)
    try:
        public_key.verify(params.signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("Signature: does not verify with the key of its keyId") from None
