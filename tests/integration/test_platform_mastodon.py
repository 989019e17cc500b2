"""The Mastodon adapter (real Mastodon.py) against the local Mastodon sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from syndication.errors import (
    ConfigError,
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import Media, OutgoingPost
from syndication.platforms.mastodon import MastodonAdapter
from syndication.platforms.registry import make_adapter
from syndication.platforms.x import XAdapter
from syndication.testing.mastodon import MastodonSandbox
from tests.sandbox_values import (
    MASTODON_TOKEN,
    mastodon_settings,
    wait_for,
    x_settings,
)

LINK = "https://news.example/ja/typhoon?utm_source=mastodon&utm_medium=social"


def make_post(
    text: str = f"台風3号が上陸 {LINK}", key: str = "article-1:mastodon-ja", **kw: object
) -> OutgoingPost:
    return OutgoingPost(
        post_id="post-1",
        text=text,
        link=LINK,
        language="ja",
        idempotency_key=key,
        **kw,  # type: ignore[arg-type]
    )


def test_post_creates_exactly_one_status_with_the_text_and_key(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """A post creates one status with the text and language, sent with its Idempotency-Key."""
    result = mastodon_adapter.post(make_post())

    [status] = mastodon_sandbox.live_posts()
    assert status.text == make_post().text
    assert status.data["language"] == "ja"
    assert status.idempotency_key == "article-1:mastodon-ja"
    assert result.remote_id == status.id
    assert result.url == f"https://mastodon.sandbox/@news/{status.id}"


def test_building_the_adapter_makes_no_request(mastodon_sandbox: MastodonSandbox) -> None:
    """Mastodon.py is given the server version, so construction never touches the network."""
    MastodonAdapter(mastodon_settings(mastodon_sandbox.base_url))

    assert mastodon_sandbox.requests == []


def test_same_idempotency_key_returns_the_same_status(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """Posting twice with one key yields one status and the same id both times."""
    first = mastodon_adapter.post(make_post())
    second = mastodon_adapter.post(make_post())

    assert first == second
    assert len(mastodon_sandbox.live_posts()) == 1


def test_rate_limit_raises_rate_limited_until_reset_then_post_succeeds(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """A 429 becomes RateLimited with retry_after from X-RateLimit-Reset, never a wait."""
    reset_at = mastodon_sandbox.rate_limit_next(reset_in=90)

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        mastodon_adapter.post(make_post())
    assert time.monotonic() - started < 5  # "throw", not Mastodon.py's default "wait"
    # Mastodon.py corrects the reset by the server's Date header, which has 1 s resolution.
    assert abs(caught.value.retry_after - (reset_at - time.time())) < 3
    assert mastodon_adapter.rate_info().remaining == 0

    mastodon_adapter.post(make_post())
    assert len(mastodon_sandbox.live_posts()) == 1


def test_rate_info_follows_the_last_responses_headers(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """After a call the adapter reports the X-RateLimit-* headers it was sent."""
    mastodon_adapter.post(make_post())

    rate = mastodon_adapter.rate_info()
    assert rate.limit == 300
    assert rate.remaining == 299
    assert rate.reset_at is not None and rate.reset_at > time.time()


def test_server_error_is_transient_then_post_succeeds(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """A 500 becomes TransientError with the server's message; the next attempt posts once."""
    mastodon_sandbox.fail_next(500, body={"error": "We're sorry, but something went wrong"})

    with pytest.raises(TransientError, match="something went wrong") as caught:
        mastodon_adapter.post(make_post())
    assert caught.value.status == 500

    mastodon_adapter.post(make_post())
    assert len(mastodon_sandbox.live_posts()) == 1


def test_accepted_then_dropped_post_is_resent_safely_with_the_same_key(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """After a lost answer, re-sending with the same key returns the same status: one post."""
    mastodon_sandbox.drop_after_next_post(path="/api/v1/statuses")

    with pytest.raises(TransientError, match="no answer after sending"):
        mastodon_adapter.post(make_post())
    [created] = mastodon_sandbox.live_posts()

    result = mastodon_adapter.post(make_post())

    assert result.remote_id == created.id
    assert len(mastodon_sandbox.live_posts()) == 1
    assert len(mastodon_sandbox.requests_to("POST", "/api/v1/statuses")) == 2


def test_dropped_connection_is_transient_and_the_retry_posts_once(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """A connection closed before the server acted is TransientError; the retry posts once."""
    mastodon_sandbox.drop_next(path="/api/v1/statuses")

    with pytest.raises(TransientError):
        mastodon_adapter.post(make_post())
    assert mastodon_sandbox.live_posts() == []

    mastodon_adapter.post(make_post())
    assert len(mastodon_sandbox.live_posts()) == 1


def test_lost_answer_without_a_key_is_uncertain(mastodon_sandbox: MastodonSandbox) -> None:
    """Without an idempotency key a read timeout after sending cannot be retried blindly."""
    adapter = MastodonAdapter(mastodon_settings(mastodon_sandbox.base_url, timeout=0.3))
    mastodon_sandbox.delay_next(1.0, path="/api/v1/statuses")

    with pytest.raises(UncertainOutcome):
        adapter.post(make_post(key=""))
    wait_for(lambda: len(mastodon_sandbox.live_posts()) == 1)
    assert adapter.find(make_post(key="")) is not None


def test_connection_refused_is_transient(mastodon_sandbox: MastodonSandbox) -> None:
    """A refused connection means nothing was sent: TransientError."""
    base_url = mastodon_sandbox.base_url
    mastodon_sandbox.stop()
    adapter = MastodonAdapter(mastodon_settings(base_url))

    with pytest.raises(TransientError, match="network error"):
        adapter.post(make_post())


def test_invalid_token_fails_permanently_with_the_servers_message(
    mastodon_sandbox: MastodonSandbox,
) -> None:
    """A 401 is PermanentError carrying Mastodon's "The access token is invalid"."""
    adapter = MastodonAdapter(mastodon_settings(mastodon_sandbox.base_url, token="bad"))

    with pytest.raises(PermanentError, match="The access token is invalid") as caught:
        adapter.post(make_post())
    assert caught.value.status == 401


def test_text_over_the_instance_limit_fails_permanently(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """A 422 validation error is PermanentError with the server's message."""
    with pytest.raises(PermanentError, match="character limit of 500") as caught:
        mastodon_adapter.post(make_post("x" * 501))
    assert caught.value.status == 422


def test_edit_replaces_the_text_in_place(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """edit() PUTs the new text to the same status and keeps its id."""
    result = mastodon_adapter.post(make_post())

    edited = mastodon_adapter.edit(result.remote_id, make_post(f"台風3号が上陸・更新 {LINK}"))

    assert edited.remote_id == result.remote_id
    status = mastodon_sandbox.posts[result.remote_id]
    assert status.text == f"台風3号が上陸・更新 {LINK}"
    assert status.edits == [make_post().text]
    assert MastodonAdapter.can_edit


def test_delete_removes_the_status_and_tolerates_a_missing_one(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """delete() removes a status; deleting it again is not an error."""
    result = mastodon_adapter.post(make_post())

    mastodon_adapter.delete(result.remote_id)
    mastodon_adapter.delete(result.remote_id)

    assert mastodon_sandbox.posts[result.remote_id].deleted


def test_find_matches_the_link_in_the_html_content(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """find() reads the account's statuses and matches the link through HTML escaping."""
    assert mastodon_adapter.find(make_post()) is None
    result = mastodon_adapter.post(make_post())

    assert mastodon_adapter.find(make_post()) == result


def test_verify_returns_the_handle(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """verify() calls verify_credentials and returns @acct."""
    assert mastodon_adapter.verify() == "@news"
    assert mastodon_sandbox.requests_to("GET", "/api/v1/accounts/verify_credentials")


def test_text_limits_come_from_the_instance() -> None:
    """text_limits() reads max_characters and characters_reserved_per_url from v2 instance."""
    with MastodonSandbox(max_characters=1000, characters_reserved_per_url=30) as sandbox:
        adapter = MastodonAdapter(mastodon_settings(sandbox.base_url))

        assert adapter.text_limits() == (1000, 30)
        assert adapter.text_limits() == (1000, 30)
        assert len(sandbox.requests_to("GET", "/api/v2/instance")) == 1


def test_images_are_uploaded_with_alt_text_and_attached(
    mastodon_sandbox: MastodonSandbox, mastodon_adapter: MastodonAdapter
) -> None:
    """Each image goes to /api/v2/media with its alt text as description, then is attached."""
    image = Media(data=b"\x89PNG\r\n\x1a\n" + b"0" * 64, content_type="image/png", alt_text="地図")

    mastodon_adapter.post(make_post(media=(image,)))

    [(media_id, media)] = mastodon_sandbox.media.items()
    assert media["description"] == "地図"
    assert media["content_type"] == "image/png"
    [status] = mastodon_sandbox.live_posts()
    assert status.data["media_ids"] == [media_id]


def test_no_error_or_repr_carries_the_token() -> None:
    """No error path puts the access token in str(), repr() or args, nor in the adapter's repr."""
    bad_token = "bad-mt-SECRET-91be"
    errors: list[PlatformError] = []
    with MastodonSandbox(bad_tokens={bad_token}) as sandbox:
        adapter = MastodonAdapter(mastodon_settings(sandbox.base_url))
        faults: list[Callable[[], object]] = [
            lambda: sandbox.rate_limit_next(),
            lambda: sandbox.fail_next(500, body={"error": "boom"}),
            lambda: sandbox.fail_next(403, body={"error": "This action is not allowed"}),
            lambda: sandbox.drop_after_next_post(),
        ]
        for n, inject in enumerate(faults):
            inject()
            with pytest.raises(PlatformError) as caught:
                adapter.post(make_post(key=f"k{n}"))
            errors.append(caught.value)
        bad = MastodonAdapter(mastodon_settings(sandbox.base_url, token=bad_token))
        with pytest.raises(PermanentError) as unauthorized:
            bad.verify()
        errors.append(unauthorized.value)
    with pytest.raises(TransientError) as refused:
        adapter.post(make_post())
    errors.append(refused.value)

    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(a) for e in errors for a in e.args] + [repr(adapter), repr(bad)]
    assert len(errors) == 6
    for text in texts:
        assert MASTODON_TOKEN not in text
        assert bad_token not in text


def test_registry_builds_each_adapter_and_rejects_unknown_platforms(
    mastodon_sandbox: MastodonSandbox,
) -> None:
    """make_adapter() maps platform names to adapters and names an unknown platform."""
    assert isinstance(make_adapter("x", x_settings("http://127.0.0.1:9")), XAdapter)
    adapter = make_adapter("mastodon", mastodon_settings(mastodon_sandbox.base_url))
    assert isinstance(adapter, MastodonAdapter)
    with pytest.raises(ConfigError, match="platform: unknown platform 'myspace'"):
        make_adapter("myspace", mastodon_settings(mastodon_sandbox.base_url))
