"""The Telegram adapter against a local Bot API sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost
from syndication.platforms.telegram import TelegramAdapter
from syndication.testing.telegram import TelegramSandbox

TOKEN = "987654:AAH-secret-bot-token"


@pytest.fixture
def sandbox() -> Iterator[TelegramSandbox]:
    with TelegramSandbox(token=TOKEN) as server:
        yield server


def make_adapter(base_url: str, token: str = TOKEN, timeout: float = 5.0) -> TelegramAdapter:
    return TelegramAdapter(
        AdapterSettings(
            base_url=base_url,
            credentials={"bot_token": token},
            options={"chat_id": "@news_vi"},
            timeout=timeout,
        )
    )


def make_post(text: str = "Bão số 3 đổ bộ https://news.example/a/1", **kw: object) -> OutgoingPost:
    fields: dict[str, object] = {
        "post_id": "p1",
        "text": text,
        "link": "https://news.example/a/1",
        "language": "vi",
        "idempotency_key": "k1",
    }
    fields.update(kw)
    return OutgoingPost(**fields)  # type: ignore[arg-type]


def assert_no_secret(exc: BaseException, secret: str) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        assert secret not in str(seen)
        assert secret not in repr(seen)
        assert all(secret not in str(arg) for arg in seen.args)
        seen = (
            seen.__cause__
            if seen.__cause__ is not None
            else (None if seen.__suppress_context__ else seen.__context__)
        )


def test_post_sends_one_html_message_with_link_preview(sandbox: TelegramSandbox) -> None:
    """A text post becomes exactly one sendMessage in HTML mode that previews the article."""
    result = make_adapter(sandbox.base_url).post(make_post())
    posts = sandbox.live_posts()
    assert len(posts) == 1
    assert posts[0].text == "Bão số 3 đổ bộ https://news.example/a/1"
    assert posts[0].data["link_preview_options"]["url"] == "https://news.example/a/1"
    assert result.remote_id == f"@news_vi/{posts[0].id}"
    assert result.url == f"https://t.me/news_vi/{posts[0].id}"


def test_html_special_characters_are_escaped_and_arrive_verbatim(
    sandbox: TelegramSandbox,
) -> None:
    """Text with <, > and & is escaped, so Telegram parses it and readers see it unchanged."""
    text = "R&D <b>budget</b> > 5% & rising <3 &amp; more"
    make_adapter(sandbox.base_url).post(make_post(text=text))
    (post,) = sandbox.live_posts()
    assert post.text == text
    assert "&lt;b&gt;" in post.data["markup"]


def test_photo_post_uploads_the_image_with_its_caption(sandbox: TelegramSandbox) -> None:
    """A post with an image goes out as one sendPhoto carrying the bytes and the caption."""
    image = Media(data=b"\xff\xd8\xff fake jpeg", content_type="image/jpeg", filename="a.jpg")
    result = make_adapter(sandbox.base_url).post(make_post(media=(image,)))
    (post,) = sandbox.live_posts()
    assert post.data["kind"] == "photo"
    assert post.data["photo_bytes"] == len(image.data)
    assert result.remote_id.endswith("/photo")


def test_long_text_with_an_image_falls_back_to_a_text_message(sandbox: TelegramSandbox) -> None:
    """Text over the 1024-character caption limit is sent as a message, never as a cut caption."""
    image = Media(data=b"img", content_type="image/png")
    make_adapter(sandbox.base_url).post(make_post(text="x" * 2000, media=(image,)))
    (post,) = sandbox.live_posts()
    assert post.data["kind"] == "text"
    assert len(post.text) == 2000


def test_edit_and_delete_change_the_sent_message(sandbox: TelegramSandbox) -> None:
    """Editing replaces the text in place, and deleting twice is not an error."""
    adapter = make_adapter(sandbox.base_url)
    sent = adapter.post(make_post())
    adapter.edit(sent.remote_id, make_post(text="Cập nhật: bão suy yếu"))
    adapter.edit(sent.remote_id, make_post(text="Cập nhật: bão suy yếu"))
    (post,) = sandbox.live_posts()
    assert post.text == "Cập nhật: bão suy yếu"
    adapter.delete(sent.remote_id)
    adapter.delete(sent.remote_id)
    assert sandbox.live_posts() == []


def test_flood_control_429_maps_to_rate_limited_with_retry_after(
    sandbox: TelegramSandbox,
) -> None:
    """Telegram's 429 becomes RateLimited with parameters.retry_after and its description."""
    sandbox.rate_limit_next(retry_after=3)
    with pytest.raises(RateLimited) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert caught.value.retry_after == 3
    assert "Too Many Requests: retry after 3" in str(caught.value)
    assert_no_secret(caught.value, TOKEN)
    assert sandbox.live_posts() == []


def test_wrong_token_is_permanent_and_never_shown(sandbox: TelegramSandbox) -> None:
    """An unauthorised bot is a PermanentError whose message, repr and args omit the token."""
    wrong = "111:wrong-secret-token"
    with pytest.raises(PermanentError) as caught:
        make_adapter(sandbox.base_url, token=wrong).verify()
    assert "Unauthorized" in str(caught.value)
    assert_no_secret(caught.value, wrong)


def test_read_timeout_after_sending_is_uncertain_without_the_token(
    sandbox: TelegramSandbox,
) -> None:
    """A message whose answer is lost may have been delivered, so the outcome is uncertain."""
    sandbox.drop_after_next_post()
    with pytest.raises(UncertainOutcome) as caught:
        make_adapter(sandbox.base_url).post(make_post())
    assert_no_secret(caught.value, TOKEN)
    assert len(sandbox.live_posts()) == 1


def test_connection_refused_is_transient_without_the_token() -> None:
    """A refused connection precedes sending, so it is transient and safe to retry."""
    with TelegramSandbox(token=TOKEN) as server:
        base_url = server.base_url
    with pytest.raises(TransientError) as caught:
        make_adapter(base_url).post(make_post())
    assert not isinstance(caught.value, UncertainOutcome | RateLimited)
    assert_no_secret(caught.value, TOKEN)


def test_find_is_unavailable_for_bots(sandbox: TelegramSandbox) -> None:
    """Bots cannot read channel history, so find says so instead of guessing."""
    with pytest.raises(PermanentError):
        make_adapter(sandbox.base_url).find(make_post())


def test_verify_returns_the_bot_username(sandbox: TelegramSandbox) -> None:
    """getMe answers with the bot's username."""
    assert make_adapter(sandbox.base_url).verify() == "@sandbox_bot"


def test_adapter_repr_omits_the_token(sandbox: TelegramSandbox) -> None:
    """The adapter's repr names the channel, never the token."""
    assert TOKEN not in repr(make_adapter(sandbox.base_url))
    assert isinstance(PlatformError("telegram", "x"), Exception)
