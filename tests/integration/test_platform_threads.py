"""The Threads adapter against a local Threads API sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syndication.errors import PermanentError, RateLimited, TransientError, UncertainOutcome
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost
from syndication.platforms.threads import ThreadsAdapter
from syndication.testing.threads import ThreadsSandbox

TOKEN = "THQW-very-secret-threads-token"
USER = "17841400000000001"
LINK = "https://news.example/vi/bai/9"


@pytest.fixture
def sandbox() -> Iterator[ThreadsSandbox]:
    with ThreadsSandbox(token=TOKEN, user_id=USER) as server:
        yield server


def make_adapter(base_url: str, token: str = TOKEN) -> ThreadsAdapter:
    return ThreadsAdapter(
        AdapterSettings(
            base_url=base_url,
            credentials={"access_token": token},
            options={"user_id": USER},
            timeout=5.0,
        )
    )


def make_post(text: str = f"Hà Nội mưa lớn 🌧️ {LINK}", **kw: object) -> OutgoingPost:
    fields: dict[str, object] = {
        "post_id": "p1",
        "text": text,
        "link": LINK,
        "language": "vi",
        "idempotency_key": "k1",
    }
    fields.update(kw)
    return OutgoingPost(**fields)  # type: ignore[arg-type]


def assert_no_secret(exc: BaseException) -> None:
    for item in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in item


def test_post_creates_a_container_and_publishes_it_once(sandbox: ThreadsSandbox) -> None:
    """A text post is one TEXT container and one threads_publish, giving one post."""
    result = make_adapter(sandbox.base_url).post(make_post())
    (post,) = sandbox.live_posts()
    (container,) = sandbox.containers
    assert container.media_type == "TEXT"
    assert post.text == f"Hà Nội mưa lớn 🌧️ {LINK}"
    assert result.remote_id == post.id
    assert result.url is not None and result.url.startswith("https://www.threads.net/@")


def test_image_post_passes_the_public_image_url(sandbox: ThreadsSandbox) -> None:
    """An image goes as an IMAGE container with the image's public URL."""
    image = Media(data=b"jpg", content_type="image/jpeg", url="https://cdn.example/x.jpg")
    make_adapter(sandbox.base_url).post(make_post(media=(image,)))
    (container,) = sandbox.containers
    assert container.media_type == "IMAGE"
    assert container.image_url == "https://cdn.example/x.jpg"


def test_quota_reports_used_and_total_and_fills_rate_info(sandbox: ThreadsSandbox) -> None:
    """quota() reads threads_publishing_limit, and rate_info shows what is left."""
    sandbox.quota_offset = 200
    adapter = make_adapter(sandbox.base_url)
    assert adapter.quota() == (200, 250)
    assert adapter.rate_info().remaining == 50
    adapter.post(make_post())
    assert adapter.quota() == (201, 250)
    assert adapter.rate_info().limit == 250


def test_spent_quota_refuses_before_creating_anything(sandbox: ThreadsSandbox) -> None:
    """With the 24-hour quota used up, post raises RateLimited and makes no container."""
    sandbox.quota_offset = 250
    with pytest.raises(RateLimited) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert "250 of 250" in str(caught.value)
    assert sandbox.containers == []
    assert sandbox.live_posts() == []


def test_rate_limit_error_maps_to_rate_limited(sandbox: ThreadsSandbox) -> None:
    """Meta's code 4 becomes RateLimited with its message and without the token."""
    sandbox.rate_limit_next()
    with pytest.raises(RateLimited) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert "Application request limit reached" in str(caught.value)
    assert_no_secret(caught.value)


def test_invalid_token_is_permanent_and_never_shown(sandbox: ThreadsSandbox) -> None:
    """Code 190 is a PermanentError that does not carry the token."""
    wrong = "THQW-wrong-secret"
    with pytest.raises(PermanentError) as caught:
        make_adapter(sandbox.base_url, token=wrong).post(make_post())
    assert "code 190" in str(caught.value)
    for item in (str(caught.value), repr(caught.value), *map(str, caught.value.args)):
        assert wrong not in item


def test_failure_creating_the_container_is_transient(sandbox: ThreadsSandbox) -> None:
    """A container publishes nothing, so a 5xx creating one is safe to retry."""
    sandbox.fail_next(500, method="POST", path=f"/v1.0/{USER}/threads")
    with pytest.raises(TransientError) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert not isinstance(caught.value, UncertainOutcome)


def test_lost_publish_answer_is_uncertain_and_find_reconciles(sandbox: ThreadsSandbox) -> None:
    """A crash between publish and its answer is uncertain, and find locates the post."""
    adapter = make_adapter(sandbox.base_url)
    sandbox.drop_after_next_post(path=f"/v1.0/{USER}/threads_publish")
    with pytest.raises(UncertainOutcome) as caught:
        adapter.post(make_post())
    assert "container" in str(caught.value)
    (post,) = sandbox.live_posts()
    found = adapter.find(make_post())
    assert found is not None and found.remote_id == post.id


def test_delete_twice_and_edit_unsupported(sandbox: ThreadsSandbox) -> None:
    """Deleting twice is not an error, and edit says Threads cannot edit."""
    adapter = make_adapter(sandbox.base_url)
    sent = adapter.post(make_post())
    adapter.delete(sent.remote_id)
    adapter.delete(sent.remote_id)
    assert sandbox.live_posts() == []
    with pytest.raises(PermanentError):
        adapter.edit(sent.remote_id, make_post())


def test_verify_returns_the_username(sandbox: ThreadsSandbox) -> None:
    """GET /me names the profile."""
    assert make_adapter(sandbox.base_url).verify() == "@sandbox.news"
