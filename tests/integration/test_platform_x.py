"""The X adapter (real tweepy) against the local X API sandbox."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import Media, OutgoingPost
from syndication.platforms.x import XAdapter
from syndication.testing.x import XSandbox
from tests.sandbox_values import X_CREDENTIALS, wait_for, x_settings

LINK = "https://news.example/vi/bao-so-3"


def make_post(text: str = f"Bão số 3 đổ bộ {LINK}", link: str = LINK, **kw: object) -> OutgoingPost:
    return OutgoingPost(
        post_id="post-1",
        text=text,
        link=link,
        language="vi",
        idempotency_key="article-1:x-vi",
        **kw,  # type: ignore[arg-type]
    )


def test_post_creates_exactly_one_tweet_with_the_text(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """A post creates one tweet with exactly the text given and returns its id and URL."""
    post = make_post()
    result = x_adapter.post(post)

    [tweet] = x_sandbox.live_posts()
    assert tweet.text == post.text
    assert result.remote_id == tweet.id
    assert result.url == f"https://x.com/i/web/status/{tweet.id}"
    [request] = x_sandbox.requests_to("POST", "/2/tweets")
    assert request.json == {"text": post.text}
    assert request.headers["authorization"].startswith("OAuth ")


def test_rate_info_follows_the_last_responses_headers(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """After a call the adapter reports the x-rate-limit-* headers it was sent."""
    x_adapter.post(make_post())

    rate = x_adapter.rate_info()
    assert rate.limit == 200
    assert rate.remaining == 199
    assert rate.reset_at is not None and rate.reset_at > time.time()


def test_rate_limit_raises_rate_limited_until_reset_then_post_succeeds(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """A 429 becomes RateLimited with retry_after taken from x-rate-limit-reset."""
    reset_at = x_sandbox.rate_limit_next(reset_in=120)

    with pytest.raises(RateLimited) as caught:
        x_adapter.post(make_post())
    assert reset_at - time.time() - 2 <= caught.value.retry_after <= reset_at - time.time() + 1
    assert x_adapter.rate_info().remaining == 0
    assert x_sandbox.live_posts() == []

    x_adapter.post(make_post())
    assert len(x_sandbox.live_posts()) == 1


def test_server_error_is_transient_then_post_succeeds(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """A 503 becomes TransientError; the next attempt posts once."""
    x_sandbox.fail_next(503, body={"title": "Service Unavailable", "status": 503})

    with pytest.raises(TransientError) as caught:
        x_adapter.post(make_post())
    assert not isinstance(caught.value, RateLimited)
    assert caught.value.status == 503

    x_adapter.post(make_post())
    assert len(x_sandbox.live_posts()) == 1


def test_connection_refused_is_transient(x_sandbox: XSandbox) -> None:
    """A refused connection means nothing was sent, so it is TransientError, not uncertain."""
    base_url = x_sandbox.base_url
    x_sandbox.stop()
    adapter = XAdapter(x_settings(base_url))

    with pytest.raises(TransientError) as caught:
        adapter.post(make_post())
    assert type(caught.value) is TransientError


def test_dropped_connection_is_uncertain(x_sandbox: XSandbox, x_adapter: XAdapter) -> None:
    """A connection closed without an answer after sending is UncertainOutcome, never retried."""
    x_sandbox.drop_next(path="/2/tweets")

    with pytest.raises(UncertainOutcome):
        x_adapter.post(make_post())
    assert x_adapter.find(make_post()) is None


def test_accepted_then_dropped_post_is_uncertain_and_found_by_reconciliation(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """When X created the tweet but the answer was lost, find() recovers it by its link."""
    x_sandbox.drop_after_next_post(path="/2/tweets")

    with pytest.raises(UncertainOutcome):
        x_adapter.post(make_post())
    [tweet] = x_sandbox.live_posts()

    found = x_adapter.find(make_post())
    assert found is not None
    assert found.remote_id == tweet.id


def test_read_timeout_after_sending_is_uncertain(x_sandbox: XSandbox) -> None:
    """A read timeout may hide a created tweet, so it is UncertainOutcome too."""
    adapter = XAdapter(x_settings(x_sandbox.base_url, timeout=0.3))
    x_sandbox.delay_next(1.0, path="/2/tweets")

    with pytest.raises(UncertainOutcome):
        adapter.post(make_post())
    wait_for(lambda: len(x_sandbox.live_posts()) == 1)
    assert adapter.find(make_post()) is not None


def test_find_matches_the_expanded_link_not_the_tco_text(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """X shortens links in timelines; find() matches entities.urls[].expanded_url."""
    x_adapter.post(
        make_post("Other story https://news.example/other", "https://news.example/other")
    )
    result = x_adapter.post(make_post())

    found = x_adapter.find(make_post())
    assert found == result
    assert (
        x_adapter.find(make_post("Missing https://news.example/x", "https://news.example/x"))
        is None
    )


def test_duplicate_content_returns_the_existing_tweet(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """Re-sending identical text gets X's 403 duplicate; the adapter returns the tweet it finds."""
    first = x_adapter.post(make_post())

    again = x_adapter.post(make_post())

    assert again.remote_id == first.remote_id
    assert len(x_sandbox.live_posts()) == 1
    assert [r.path for r in x_sandbox.requests_to("POST", "/2/tweets")] == ["/2/tweets"] * 2


def test_duplicate_content_not_found_is_uncertain(x_sandbox: XSandbox) -> None:
    """A duplicate refusal means the text is already out; when the listing cannot show it, the
    outcome is unknown (reconciled later or decided by an operator), never a plain failure."""
    settings = x_settings(x_sandbox.base_url)
    adapter = XAdapter(replace(settings, options={"reconcile_count": "5"}))
    x_sandbox.add_post("Same words")
    for n in range(5):  # push it out of the window find() reads
        x_sandbox.add_post(f"Newer {n}")

    with pytest.raises(UncertainOutcome, match="duplicate content"):
        adapter.post(make_post("Same words", "https://news.example/elsewhere"))


def test_bad_credentials_fail_permanently_with_xs_message(x_sandbox: XSandbox) -> None:
    """A 401 is PermanentError carrying X's own message and status."""
    adapter = XAdapter(x_settings(x_sandbox.base_url, consumer_key="bad"))

    with pytest.raises(PermanentError) as caught:
        adapter.post(make_post())
    assert caught.value.status == 401
    assert "401 Unauthorized: Unauthorized" in str(caught.value)
    assert x_sandbox.live_posts() == []


def test_missing_credential_is_named_without_values(x_sandbox: XSandbox) -> None:
    """Building the adapter without a credential names the missing key only."""
    with pytest.raises(PermanentError, match=r"credentials\.access_token_secret: missing"):
        XAdapter(x_settings(x_sandbox.base_url, access_token_secret=""))


def test_delete_removes_the_tweet_and_tolerates_a_missing_one(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """delete() removes a tweet; deleting it again is not an error."""
    result = x_adapter.post(make_post())

    x_adapter.delete(result.remote_id)
    x_adapter.delete(result.remote_id)

    assert x_sandbox.posts[result.remote_id].deleted
    assert len(x_sandbox.requests_to("DELETE", "/2/tweets/")) == 2


def test_edit_is_refused_as_unsupported(x_adapter: XAdapter) -> None:
    """X has no edit endpoint, so edit() fails permanently and can_edit says so."""
    assert not XAdapter.can_edit
    assert not XAdapter.idempotent
    with pytest.raises(PermanentError, match="not supported"):
        x_adapter.edit("1", make_post())


def test_verify_returns_the_handle(x_sandbox: XSandbox, x_adapter: XAdapter) -> None:
    """verify() calls GET /2/users/me and returns @username."""
    assert x_adapter.verify() == "@sandbox_news"
    assert x_sandbox.requests_to("GET", "/2/users/me")


def test_images_are_uploaded_with_alt_text_and_attached(
    x_sandbox: XSandbox, x_adapter: XAdapter
) -> None:
    """Each image goes through v1.1 media upload, gets its alt text, and is attached."""
    image = Media(data=b"\x89PNG\r\n\x1a\n" + b"0" * 64, content_type="image/png", alt_text="A map")

    x_adapter.post(make_post(media=(image,)))

    [media_id] = x_sandbox.media
    assert x_sandbox.media[media_id]["alt"] == "A map"
    [tweet] = x_sandbox.live_posts()
    assert tweet.data["media_ids"] == [media_id]


def _error_paths(sandbox: XSandbox, adapter: XAdapter) -> list[PlatformError]:
    errors: list[PlatformError] = []

    def attempt(fault: str) -> None:
        if fault == "429":
            sandbox.rate_limit_next()
        elif fault == "500":
            sandbox.fail_next(500, body={"detail": "oops"})
        elif fault == "drop":
            sandbox.drop_after_next_post()
        elif fault == "403":
            sandbox.fail_next(403, body={"detail": "Forbidden"})
        with pytest.raises(PlatformError) as caught:
            adapter.post(make_post(f"Text {fault} {LINK}"))
        errors.append(caught.value)

    for fault in ("429", "500", "drop", "403"):
        attempt(fault)
    bad = XAdapter(x_settings(sandbox.base_url, consumer_key="bad"))
    with pytest.raises(PermanentError) as caught_401:
        bad.verify()
    errors.append(caught_401.value)
    return errors


def test_no_error_or_repr_carries_a_credential() -> None:
    """No error path puts a credential in str(), repr() or args, nor in the adapter's repr."""
    secrets = [*X_CREDENTIALS.values(), "bad-ck-SECRET-77aa"]
    with XSandbox(bad_credentials={"bad", "bad-ck-SECRET-77aa"}) as sandbox:
        adapter = XAdapter(x_settings(sandbox.base_url))
        errors = _error_paths(sandbox, adapter)
        bad = XAdapter(x_settings(sandbox.base_url, consumer_key="bad-ck-SECRET-77aa"))
        with pytest.raises(PermanentError) as caught:
            bad.post(make_post())
        errors.append(caught.value)
        base_url = sandbox.base_url
    with pytest.raises(TransientError) as refused:
        adapter.post(make_post())
    errors.append(refused.value)
    errors_text = [str(e) for e in errors] + [repr(e) for e in errors]
    errors_text += [repr(a) for e in errors for a in e.args]
    errors_text += [repr(adapter), repr(x_settings(base_url))]
    assert len(errors) == 7
    for text in errors_text:
        for secret in secrets:
            assert secret not in text
