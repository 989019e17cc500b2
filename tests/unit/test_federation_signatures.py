"""HTTP Signatures (draft-cavage-http-signatures): the draft's own test vectors, our signer
against our verifier, and every rejection the inbox relies on."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

from syndication.federation.signatures import (
    SignatureError,
    body_digest,
    check_request,
    generate_key_pair,
    load_private_key,
    load_public_key,
    parse_signature_header,
    sign_request,
    signing_string,
    verify_signature,
)

# The test key pair and request of draft-cavage-http-signatures (Appendix C; the same in
# drafts 10 to 12). Published test data, not a secret.
DRAFT_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----"""
DRAFT_PRIVATE = """-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----"""
DRAFT_BODY = b'{"hello": "world"}'
DRAFT_HEADERS = {
    "host": "example.com",
    "date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "content-type": "application/json",
    "digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "content-length": "18",
}
DRAFT_TARGET = "/foo?param=value&pet=dog"
DRAFT_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)
# Appendix C.1 (default: date only), C.2 (basic), C.3 (all headers).
VECTORS = {
    "default": (
        'keyId="Test",algorithm="rsa-sha256",signature="SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn'
        "+ibttBqtifLN7Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB6hbgE"
        'KTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="'
    ),
    "basic": (
        'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",signature='
        '"qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2'
        "iicw3HMbe8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04sw"
        'r2Os0="'
    ),
    "all": (
        'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date content-type '
        'digest content-length",signature="vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvR'
        "s8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51g"
        'WxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="'
    ),
}


@pytest.fixture(scope="module")
def pair() -> tuple[str, str]:
    """One fresh RSA key pair for the module (generation is the slow part)."""
    return generate_key_pair(2048)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_drafts_test_vectors_verify(name: str) -> None:
    """Each signature of the draft's Appendix C verifies with the draft's public key."""
    params = parse_signature_header(VECTORS[name])
    verify_signature(params, "POST", DRAFT_TARGET, DRAFT_HEADERS, load_public_key(DRAFT_PUBLIC))


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_signing_the_drafts_request_reproduces_its_vectors(name: str) -> None:
    """RSA PKCS#1 v1.5 is deterministic: our signing string and key give the draft's bytes."""
    params = parse_signature_header(VECTORS[name])
    text = signing_string("POST", DRAFT_TARGET, DRAFT_HEADERS, params.headers)
    ours = load_private_key(DRAFT_PRIVATE).sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert ours == params.signature


def test_the_drafts_digest_is_the_sha256_of_its_body() -> None:
    """The Digest header we compute matches the draft's for the same body."""
    assert body_digest(DRAFT_BODY) == DRAFT_HEADERS["digest"]


def test_a_tampered_header_does_not_verify() -> None:
    """Changing a covered header (the host) breaks the draft's basic signature."""
    params = parse_signature_header(VECTORS["basic"])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(
            params,
            "POST",
            DRAFT_TARGET,
            {**DRAFT_HEADERS, "host": "evil.example"},
            load_public_key(DRAFT_PUBLIC),
        )


def test_what_we_sign_passes_our_checks_and_verifies(pair: tuple[str, str]) -> None:
    """A POST signed by sign_request passes check_request and verifies with the public key."""
    private, public = pair
    now = datetime.now(UTC)
    body = b'{"type": "Create"}'
    headers = sign_request(
        "POST",
        "https://peer.example/inbox?x=1",
        body,
        key_id="https://us.example/users/vi#main-key",
        private_key=load_private_key(private),
        now=now,
    )
    params = check_request("POST", headers, body, now=now, window=300)
    assert params.key_id == "https://us.example/users/vi#main-key"
    assert params.headers == ("(request-target)", "host", "date", "digest", "content-type")
    verify_signature(params, "POST", "/inbox?x=1", headers, load_public_key(public))


def _signed(pair: tuple[str, str], now: datetime, body: bytes = b"{}") -> dict[str, str]:
    return sign_request(
        "POST",
        "https://us.example/inbox",
        body,
        key_id="k",
        private_key=load_private_key(pair[0]),
        now=now,
    )


def test_an_unsigned_request_is_refused() -> None:
    """No Signature header: refused before any key is looked at."""
    with pytest.raises(SignatureError, match="Signature: required"):
        check_request("POST", {"date": "x"}, b"{}", now=datetime.now(UTC), window=300)


def test_a_stale_date_is_refused(pair: tuple[str, str]) -> None:
    """A request signed two hours ago is refused with a one-hour window (a replay)."""
    now = datetime.now(UTC)
    headers = _signed(pair, now - timedelta(hours=2))
    with pytest.raises(SignatureError, match=r"^Date: more than 3600 s"):
        check_request("POST", headers, b"{}", now=now, window=3600)


def test_a_body_that_does_not_match_its_digest_is_refused(pair: tuple[str, str]) -> None:
    """The Digest binds the body: another body with the same signed headers is refused."""
    now = datetime.now(UTC)
    headers = _signed(pair, now, b'{"a": 1}')
    with pytest.raises(SignatureError, match=r"^Digest: does not match"):
        check_request("POST", headers, b'{"a": 2}', now=now, window=300)


def test_a_post_whose_signature_does_not_cover_the_digest_is_refused(pair: tuple[str, str]) -> None:
    """The draft's basic signature (no digest) is not enough for a POST to an inbox."""
    headers = {**DRAFT_HEADERS, "signature": VECTORS["basic"]}
    with pytest.raises(SignatureError, match=r"^Signature\.headers: must cover digest"):
        check_request("POST", headers, DRAFT_BODY, now=DRAFT_NOW, window=300)


def test_a_signature_covering_only_the_date_is_refused() -> None:
    """The draft's default signature covers neither the target nor the host: refused."""
    headers = {**DRAFT_HEADERS, "signature": VECTORS["default"]}
    with pytest.raises(SignatureError, match="must cover"):
        check_request("GET", headers, b"", now=DRAFT_NOW, window=300)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('algorithm="rsa-sha256",signature="AAAA"', r"Signature\.keyId: required"),
        ('keyId="k",algorithm="hmac-sha256",signature="AAAA"', "is not supported"),
        ('keyId="k",signature="not base64!"', "not base64"),
        ("keyId=k", "not a list"),
    ],
)
def test_malformed_signature_headers_name_the_problem(header: str, message: str) -> None:
    """Every malformed header gives a SignatureError naming the parameter."""
    with pytest.raises(SignatureError, match=message):
        parse_signature_header(header)


def test_hs2019_is_read_as_rsa_sha256(pair: tuple[str, str]) -> None:
    """Servers that write algorithm="hs2019" with an RSA key are verified like rsa-sha256."""
    now = datetime.now(UTC)
    headers = _signed(pair, now)
    headers["signature"] = headers["signature"].replace("rsa-sha256", "hs2019")
    params = check_request("POST", headers, b"{}", now=now, window=300)
    verify_signature(params, "POST", "/inbox", headers, load_public_key(pair[1]))


def test_a_signature_from_another_key_does_not_verify(pair: tuple[str, str]) -> None:
    """A valid signature by the draft's key does not verify with ours."""
    now = datetime.now(UTC)
    headers = sign_request(
        "POST",
        "https://us.example/inbox",
        b"{}",
        key_id="k",
        private_key=load_private_key(DRAFT_PRIVATE),
        now=now,
    )
    params = check_request("POST", headers, b"{}", now=now, window=300)
    with pytest.raises(SignatureError):
        verify_signature(params, "POST", "/inbox", headers, load_public_key(pair[1]))


def test_a_non_rsa_key_is_refused() -> None:
    """Only RSA keys are used for rsa-sha256; an Ed25519 key is refused by name."""
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(SignatureError, match="not an RSA key"):
        load_public_key(pem)


def test_signatures_are_base64_of_the_key_size(pair: tuple[str, str]) -> None:
    """A 2048-bit key signs 256 bytes (the header carries them in base64)."""
    headers = _signed(pair, datetime.now(UTC))
    params = parse_signature_header(headers["signature"])
    assert len(params.signature) == 256
    assert base64.b64encode(params.signature).decode() in headers["signature"]
