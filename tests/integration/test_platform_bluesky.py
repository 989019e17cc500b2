"""The Bluesky adapter, through the real atproto client, against a local PDS sandbox."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from PIL import Image

from syndication.errors import (
    ConfigError,
    PermanentError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost
from syndication.platforms.bluesky import BLOB_LIMIT, BlueskyAdapter, tid_for_key
from syndication.testing.bluesky import BlueskySandbox

PASSWORD = "secr-etap-ppas-swrd"
LINK = "https://news.example/ja/articles/77"
TEXT = f"台風10号が接近 🌀 Bão số 10 {LINK} #台風 #thờitiết"


@pytest.fixture
def sandbox() -> Iterator[BlueskySandbox]:
    with BlueskySandbox(app_password=PASSWORD) as server:
        yield server


def make_adapter(sandbox: BlueskySandbox, password: str = PASSWORD) -> BlueskyAdapter:
    return BlueskyAdapter(
        AdapterSettings(
            base_url=sandbox.base_url,
            credentials={"handle": sandbox.handle, "app_password": password},
            timeout=5.0,
        )
    )


def make_post(text: str = TEXT, key: str = "article-77:bluesky-ja", **kw: object) -> OutgoingPost:
    fields: dict[str, object] = {
        "post_id": "p77",
        "text": text,
        "link": LINK,
        "language": "ja",
        "idempotency_key": key,
        "title": "台風10号",
        "description": "最新情報",
    }
    fields.update(kw)
    return OutgoingPost(**fields)  # type: ignore[arg-type]


def noisy_jpeg(side: int) -> bytes:
    """A photo-like JPEG that compresses badly, so it is large on disk."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def assert_no_secret(exc: BaseException, secret: str) -> None:
    for item in (str(exc), repr(exc), *map(str, exc.args)):
        assert secret not in item


def test_post_creates_one_record_under_the_derived_rkey(sandbox: BlueskySandbox) -> None:
    """A post is one createRecord whose rkey is the TID derived from the idempotency key."""
    result = make_adapter(sandbox).post(make_post())
    rkey = tid_for_key("article-77:bluesky-ja")
    (post,) = sandbox.live_posts()
    assert post.id == rkey == result.remote_id
    assert result.url == f"https://bsky.app/profile/{sandbox.handle}/post/{rkey}"
    record = post.data["record"]
    assert record["text"] == TEXT
    assert record["langs"] == ["ja"]
    assert record["embed"]["external"]["uri"] == LINK
    assert record["embed"]["external"]["title"] == "台風10号"


def test_facets_slice_exactly_the_url_and_tags_in_utf8(sandbox: BlueskySandbox) -> None:
    """The stored facets' byte ranges pick out the URL and the tags in the UTF-8 text."""
    make_adapter(sandbox).post(make_post())
    record = sandbox.live_posts()[0].data["record"]
    encoded = record["text"].encode("utf-8")
    sliced = [
        (
            encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(),
            f["features"][0].get("uri") or f["features"][0].get("tag"),
        )
        for f in record["facets"]
    ]
    assert sliced == [(LINK, LINK), ("#台風", "台風"), ("#thờitiết", "thờitiết")]


@pytest.mark.parametrize("duplicate_status", [500, 409])
def test_retry_with_the_same_rkey_creates_no_duplicate(
    sandbox: BlueskySandbox, duplicate_status: int
) -> None:
    """Posting the same post twice leaves one record: the refused create is read back."""
    sandbox.duplicate_status = duplicate_status
    adapter = make_adapter(sandbox)
    first = adapter.post(make_post())
    second = make_adapter(sandbox).post(make_post())
    assert first == second
    assert len(sandbox.live_posts()) == 1
    assert len(sandbox.requests_to("POST", "/xrpc/com.atproto.repo.createRecord")) == 2


def test_lost_answer_is_resolved_by_reading_the_record(sandbox: BlueskySandbox) -> None:
    """When the create's answer is lost, getRecord finds the record and the post succeeds."""
    adapter = make_adapter(sandbox)
    adapter.verify()
    sandbox.drop_after_next_post(path="/xrpc/com.atproto.repo.createRecord")
    result = adapter.post(make_post())
    (post,) = sandbox.live_posts()
    assert result.remote_id == post.id


def test_lost_request_that_created_nothing_stays_uncertain(sandbox: BlueskySandbox) -> None:
    """A dropped create with no record behind it is uncertain, and a retry posts it once."""
    adapter = make_adapter(sandbox)
    adapter.verify()
    sandbox.drop_next(path="/xrpc/com.atproto.repo.createRecord")
    with pytest.raises(UncertainOutcome):
        adapter.post(make_post())
    assert sandbox.live_posts() == []
    adapter.post(make_post())
    assert len(sandbox.live_posts()) == 1


def test_rkey_holding_an_earlier_text_is_the_earlier_attempt(sandbox: BlueskySandbox) -> None:
    """The rkey comes from the post's own key, so a record under it is an earlier attempt of
    this post (sent before an update changed the text): it is reported as sent and stale, to
    be edited, and never created twice."""
    adapter = make_adapter(sandbox)
    first = adapter.post(make_post())
    again = adapter.post(make_post(text="Updated text https://news.example/ja/articles/77"))
    assert again.remote_id == first.remote_id and again.stale
    (post,) = sandbox.live_posts()
    assert post.text == TEXT


def test_rate_limit_maps_to_rate_limited_with_retry_after(sandbox: BlueskySandbox) -> None:
    """The PDS's 429 becomes RateLimited waiting Retry-After seconds."""
    adapter = make_adapter(sandbox)
    adapter.verify()
    sandbox.rate_limit_next(retry_after=30)
    with pytest.raises(RateLimited) as caught:
        adapter.post(make_post())
    assert caught.value.retry_after == 30
    assert "RateLimitExceeded" in str(caught.value)
    assert sandbox.live_posts() == []


def test_wrong_app_password_is_permanent_and_never_shown(sandbox: BlueskySandbox) -> None:
    """A refused sign-in is a PermanentError with the PDS's message, without the password."""
    wrong = "wron-gpas-swor-dxxx"
    with pytest.raises(PermanentError) as caught:
        make_adapter(sandbox, password=wrong).post(make_post())
    assert "Invalid identifier or password" in str(caught.value)
    assert_no_secret(caught.value, wrong)


def test_revoked_token_is_permanent_then_a_new_session_works(sandbox: BlueskySandbox) -> None:
    """An InvalidToken answer is permanent for that call, and the next call signs in again."""
    adapter = make_adapter(sandbox)
    adapter.verify()
    sandbox.expire_tokens()
    with pytest.raises(PermanentError, match="InvalidToken") as caught:
        adapter.post(make_post())
    assert_no_secret(caught.value, PASSWORD)
    adapter.post(make_post())
    assert len(sandbox.live_posts()) == 1


def test_server_error_on_delete_is_transient(sandbox: BlueskySandbox) -> None:
    """A 5xx on a delete can simply be retried."""
    adapter = make_adapter(sandbox)
    adapter.verify()
    sandbox.fail_next(502, path="/xrpc/com.atproto.repo.deleteRecord")
    with pytest.raises(TransientError) as caught:
        adapter.delete("3kabcdefghijk")
    assert not isinstance(caught.value, UncertainOutcome)


def test_large_thumbnail_is_resized_under_the_blob_limit(sandbox: BlueskySandbox) -> None:
    """An image over the blob limit is shrunk before upload and still makes the card."""
    data = noisy_jpeg(1000)
    assert len(data) > BLOB_LIMIT
    image = Media(data=data, content_type="image/jpeg")
    make_adapter(sandbox).post(make_post(media=(image,)))
    (blob,) = sandbox.blobs.values()
    assert len(blob) <= BLOB_LIMIT
    thumb = sandbox.live_posts()[0].data["record"]["embed"]["external"]["thumb"]
    assert thumb["size"] == len(blob)


def test_unreadable_image_does_not_block_the_post(sandbox: BlueskySandbox) -> None:
    """A broken image is dropped and the post goes out with a card but no thumbnail."""
    image = Media(data=b"not an image", content_type="image/jpeg")
    make_adapter(sandbox).post(make_post(media=(image,)))
    record = sandbox.live_posts()[0].data["record"]
    assert "thumb" not in record["embed"]["external"]


def test_find_edit_and_delete(sandbox: BlueskySandbox) -> None:
    """find answers by rkey, edit replaces the record, and delete is idempotent."""
    adapter = make_adapter(sandbox)
    assert adapter.find(make_post()) is None
    sent = adapter.post(make_post())
    assert adapter.find(make_post()) == sent
    adapter.edit(sent.remote_id, make_post(text="更新: 台風10号"))
    assert sandbox.live_posts()[0].text == "更新: 台風10号"
    adapter.delete(sent.remote_id)
    adapter.delete(sent.remote_id)
    assert sandbox.live_posts() == []
    assert adapter.find(make_post()) is None


def test_rate_info_reads_the_ratelimit_headers(sandbox: BlueskySandbox) -> None:
    """rate_info reflects the PDS's ratelimit-* headers from the last response."""
    adapter = make_adapter(sandbox)
    adapter.post(make_post())
    info = adapter.rate_info()
    assert info.limit == 5000
    assert info.remaining is not None and info.remaining < 5000


def test_a_photo_embed_carries_the_caption_as_alt_text(sandbox: BlueskySandbox) -> None:
    """With ``embed: photo`` the lead image is posted as an image with its caption as alt
    text (a link card's thumbnail has none), and the link stays a facet in the text."""
    adapter = BlueskyAdapter(
        AdapterSettings(
            base_url=sandbox.base_url,
            credentials={"handle": sandbox.handle, "app_password": PASSWORD},
            options={"embed": "photo"},
        )
    )
    image = Media(
        data=noisy_jpeg(64), content_type="image/jpeg", alt_text="Cố đô Huế lúc bình minh"
    )
    adapter.post(make_post(media=(image,)))
    record = sandbox.live_posts()[0].data["record"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert record["embed"]["images"][0]["alt"] == "Cố đô Huế lúc bình minh"
    links = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#link")]
    assert links and links[0]["features"][0]["uri"] == LINK


def test_an_unknown_embed_option_is_a_config_error(sandbox: BlueskySandbox) -> None:
    """A channel asking for an embed the adapter does not know fails when it is built."""
    with pytest.raises(ConfigError, match=r"options\.embed"):
        BlueskyAdapter(
            AdapterSettings(
                base_url=sandbox.base_url,
                credentials={"handle": sandbox.handle, "app_password": PASSWORD},
                options={"embed": "video"},
            )
        )
