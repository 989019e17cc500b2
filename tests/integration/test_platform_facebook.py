"""The Facebook Pages adapter against a local Graph API sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syndication.errors import PermanentError, RateLimited, TransientError, UncertainOutcome
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost
from syndication.platforms.facebook import FacebookAdapter
from syndication.testing.facebook import FacebookSandbox, graph_error

TOKEN = "EAAB-very-secret-page-token"
LINK = "https://news.example/ja/articles/42"


@pytest.fixture
def sandbox() -> Iterator[FacebookSandbox]:
    with FacebookSandbox(token=TOKEN, page_id="555") as server:
        yield server


def make_adapter(base_url: str, token: str = TOKEN) -> FacebookAdapter:
    return FacebookAdapter(
        AdapterSettings(
            base_url=base_url,
            credentials={"page_access_token": token},
            options={"page_id": "555", "api_version": "v21.0"},
            timeout=5.0,
        )
    )


def make_post(text: str = "東京で大雨 ☔ 詳しくは記事で", **kw: object) -> OutgoingPost:
    fields: dict[str, object] = {
        "post_id": "p1",
        "text": text,
        "link": LINK,
        "language": "ja",
        "idempotency_key": "k1",
    }
    fields.update(kw)
    return OutgoingPost(**fields)  # type: ignore[arg-type]


def assert_no_secret(exc: BaseException) -> None:
    for item in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in item
    assert exc.__cause__ is None or TOKEN not in str(exc.__cause__)


def test_link_post_is_published_once_to_the_page_feed(sandbox: FacebookSandbox) -> None:
    """A post without an image is one POST to /v21.0/{page}/feed with message and link."""
    result = make_adapter(sandbox.base_url).post(make_post())
    (post,) = sandbox.live_posts()
    assert post.text == "東京で大雨 ☔ 詳しくは記事で"
    assert post.data["link"] == LINK
    assert result.remote_id == post.id
    (request,) = sandbox.requests_to("POST", "/v21.0/555/feed")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.path and "access_token" not in request.query


def test_photo_post_passes_the_public_image_url(sandbox: FacebookSandbox) -> None:
    """An image with a public URL is posted through /photos with the text as caption."""
    image = Media(data=b"jpeg", content_type="image/jpeg", url="https://cdn.example/a.jpg")
    result = make_adapter(sandbox.base_url).post(make_post(media=(image,)))
    (post,) = sandbox.live_posts()
    assert post.data == {"kind": "photo", "url": "https://cdn.example/a.jpg", "source_bytes": 0}
    assert result.remote_id == post.id


def test_photo_without_url_is_uploaded_as_source(sandbox: FacebookSandbox) -> None:
    """An image known only by its bytes is uploaded as the multipart source."""
    image = Media(data=b"\x89PNG bytes", content_type="image/png", filename="a.png")
    make_adapter(sandbox.base_url).post(make_post(media=(image,)))
    (post,) = sandbox.live_posts()
    assert post.data["source_bytes"] == len(image.data)


def test_page_throttling_maps_to_rate_limited_with_the_usage_header(
    sandbox: FacebookSandbox,
) -> None:
    """Code 32 becomes RateLimited, waiting the minutes X-Business-Use-Case-Usage gives."""
    sandbox.rate_limit_next(minutes=7)
    with pytest.raises(RateLimited) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert caught.value.retry_after == 420
    assert "Page request limit reached" in str(caught.value)
    assert_no_secret(caught.value)


@pytest.mark.parametrize("code", [4, 17, 613])
def test_other_throttling_codes_map_to_rate_limited(sandbox: FacebookSandbox, code: int) -> None:
    """Application, user and API-specific throttling codes are rate limits too."""
    sandbox.fail_next(400, body=graph_error("(#4) Application request limit reached", code))
    with pytest.raises(RateLimited):
        make_adapter(sandbox.base_url).post(make_post())


def test_expired_token_is_permanent_and_never_shown(sandbox: FacebookSandbox) -> None:
    """Code 190 is a PermanentError carrying Facebook's message and not the token."""
    sandbox.token_expired = True
    with pytest.raises(PermanentError) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert "Session has expired" in str(caught.value)
    assert "code 190" in str(caught.value)
    assert_no_secret(caught.value)


@pytest.mark.parametrize(("code", "kind"), [(200, "permission"), (10, "permission"), (368, "spam")])
def test_permission_and_spam_errors_are_permanent(
    sandbox: FacebookSandbox, code: int, kind: str
) -> None:
    """Permission (10, 200) and blocked-as-abusive (368) errors cannot be retried away."""
    sandbox.fail_next(403, body=graph_error(f"(#{code}) {kind}", code))
    with pytest.raises(PermanentError):
        make_adapter(sandbox.base_url).post(make_post())


def test_duplicate_message_is_permanent(sandbox: FacebookSandbox) -> None:
    """Posting the same message twice gets code 506, a PermanentError."""
    adapter = make_adapter(sandbox.base_url)
    adapter.post(make_post())
    with pytest.raises(PermanentError, match="506"):
        adapter.post(make_post())
    assert len(sandbox.live_posts()) == 1


def test_server_error_after_publishing_is_uncertain_and_find_reconciles(
    sandbox: FacebookSandbox,
) -> None:
    """A lost answer to a published post is uncertain, and find locates it by its link."""
    adapter = make_adapter(sandbox.base_url)
    sandbox.drop_after_next_post()
    with pytest.raises(UncertainOutcome):
        adapter.post(make_post())
    (post,) = sandbox.live_posts()
    found = adapter.find(make_post())
    assert found is not None and found.remote_id == post.id


def test_5xx_on_a_write_is_uncertain_and_on_a_read_transient(sandbox: FacebookSandbox) -> None:
    """A 500 may follow a publish, so it is uncertain on writes and transient on reads."""
    adapter = make_adapter(sandbox.base_url)
    sandbox.fail_next(500, body=graph_error("An unknown error occurred", 1, kind="OAuthException"))
    with pytest.raises(UncertainOutcome):
        adapter.post(make_post())
    sandbox.fail_next(500)
    with pytest.raises(TransientError) as caught:
        adapter.find(make_post())
    assert not isinstance(caught.value, UncertainOutcome)


def test_find_returns_none_when_the_post_is_absent(sandbox: FacebookSandbox) -> None:
    """find answers None when no recent Page post carries the link."""
    assert make_adapter(sandbox.base_url).find(make_post()) is None


def test_edit_then_delete_twice(sandbox: FacebookSandbox) -> None:
    """Edits replace the message; deleting a post already gone is not an error."""
    adapter = make_adapter(sandbox.base_url)
    sent = adapter.post(make_post())
    adapter.edit(sent.remote_id, make_post(text="東京で大雨(更新)"))
    assert sandbox.live_posts()[0].text == "東京で大雨(更新)"
    adapter.delete(sent.remote_id)
    adapter.delete(sent.remote_id)
    assert sandbox.live_posts() == []


def test_verify_returns_the_page_name(sandbox: FacebookSandbox) -> None:
    """GET /me with the Page token names the Page."""
    assert make_adapter(sandbox.base_url).verify() == "Sandbox News"
