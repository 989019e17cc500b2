"""The LinkedIn adapter against a local REST Posts API sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndication.errors import PermanentError, RateLimited, TransientError, UncertainOutcome
from syndication.platforms.base import AdapterSettings, OutgoingPost
from syndication.platforms.linkedin import LinkedInAdapter, escape_little_text, to_commentary
from syndication.testing.linkedin import LinkedInSandbox, render_little_text

TOKEN = "AQV-very-secret-linkedin-token"
LINK = "https://news.example/en/articles/7"


@pytest.fixture
def sandbox() -> Iterator[LinkedInSandbox]:
    with LinkedInSandbox(token=TOKEN, organization_id="42") as server:
        yield server


def make_adapter(base_url: str, token: str = TOKEN) -> LinkedInAdapter:
    return LinkedInAdapter(
        AdapterSettings(
            base_url=base_url,
            credentials={"access_token": token},
            options={"organization_id": "42", "api_version": "202510"},
            timeout=5.0,
        )
    )


def make_post(text: str, **kw: object) -> OutgoingPost:
    fields: dict[str, object] = {
        "post_id": "p1",
        "text": text,
        "link": LINK,
        "language": "en",
        "idempotency_key": "k1",
        "title": "Budget (2026) passes",
        "description": "What changes",
    }
    fields.update(kw)
    return OutgoingPost(**fields)  # type: ignore[arg-type]


def assert_no_secret(exc: BaseException) -> None:
    for item in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in item


def test_title_with_parentheses_survives_whole(sandbox: LinkedInSandbox) -> None:
    """A commentary with parentheses and other reserved characters arrives uncut."""
    text = "Budget (2026) passes [vote 61-39] <live> a*b_c~d | @desk {x} \\ end"
    result = make_adapter(sandbox.base_url).post(make_post(text))
    (post,) = sandbox.live_posts()
    assert post.text == text
    assert result.remote_id == post.id
    assert result.url == f"https://www.linkedin.com/feed/update/{post.id}/"


def test_unescaped_parentheses_would_have_cut_the_post() -> None:
    """The sandbox cuts raw text at the first reserved character, as LinkedIn does."""
    assert render_little_text("Budget (2026) passes") == "Budget "


def test_hashtags_become_hashtag_templates(sandbox: LinkedInSandbox) -> None:
    """Hashtags are sent as {hashtag|\\#|tag} and read back as #tag."""
    make_adapter(sandbox.base_url).post(make_post("Vote today #Election2026 #vote_now #1"))
    (post,) = sandbox.live_posts()
    assert "{hashtag|\\#|Election2026}" in post.data["commentary"]
    assert post.text == "Vote today #Election2026 #vote_now #1"


def test_post_carries_version_headers_author_and_article(sandbox: LinkedInSandbox) -> None:
    """The request has the versioned headers, the organisation author and the article card."""
    make_adapter(sandbox.base_url).post(make_post("Hello"))
    (request,) = sandbox.requests_to("POST", "/rest/posts")
    assert request.headers["linkedin-version"] == "202510"
    assert request.headers["x-restli-protocol-version"] == "2.0.0"
    assert request.json["author"] == "urn:li:organization:42"
    assert request.json["content"]["article"] == {
        "source": LINK,
        "title": "Budget (2026) passes",
        "description": "What changes",
    }


@given(st.text(max_size=200))
def test_escaping_round_trips_any_text(text: str) -> None:
    """Whatever the text, LinkedIn's rendering of our commentary gives the text back."""
    assert render_little_text(to_commentary(text)) == text
    assert render_little_text(escape_little_text(text)) == text


def test_daily_limit_429_maps_to_rate_limited(sandbox: LinkedInSandbox) -> None:
    """LinkedIn's 429 becomes RateLimited carrying its message and not the token."""
    sandbox.rate_limit_next()
    with pytest.raises(RateLimited) as caught:
        make_adapter(sandbox.base_url).post(make_post("Hello"))
    assert "APPLICATION DAY limit" in str(caught.value)
    assert caught.value.retry_after > 0
    assert_no_secret(caught.value)


@pytest.mark.parametrize("status", [401, 403, 422])
def test_auth_permission_and_validation_errors_are_permanent(
    sandbox: LinkedInSandbox, status: int
) -> None:
    """401, 403 and 422 are PermanentErrors with LinkedIn's message."""
    sandbox.fail_next(status, body=LinkedInSandbox.error_body(status, f"refused {status}"))
    with pytest.raises(PermanentError) as caught:
        make_adapter(sandbox.base_url).post(make_post("Hello"))
    assert f"refused {status}" in str(caught.value)
    assert_no_secret(caught.value)


def test_wrong_token_is_permanent_and_never_shown(sandbox: LinkedInSandbox) -> None:
    """A token LinkedIn rejects is a PermanentError that does not carry the token."""
    wrong = "AQV-wrong-secret"
    with pytest.raises(PermanentError) as caught:
        make_adapter(sandbox.base_url, token=wrong).post(make_post("Hello"))
    for item in (str(caught.value), repr(caught.value)):
        assert wrong not in item


def test_5xx_or_lost_answer_on_create_is_uncertain(sandbox: LinkedInSandbox) -> None:
    """A create whose answer is lost may have posted, so its outcome is uncertain."""
    adapter = make_adapter(sandbox.base_url)
    sandbox.fail_next(503)
    with pytest.raises(UncertainOutcome):
        adapter.post(make_post("Hello"))
    sandbox.drop_after_next_post()
    with pytest.raises(UncertainOutcome):
        adapter.post(make_post("Hello"))
    assert len(sandbox.live_posts()) == 1


def test_5xx_on_delete_is_transient(sandbox: LinkedInSandbox) -> None:
    """A failed delete can simply be retried."""
    sandbox.fail_next(502)
    with pytest.raises(TransientError) as caught:
        make_adapter(sandbox.base_url).delete("urn:li:share:1")
    assert not isinstance(caught.value, UncertainOutcome)


def test_edit_and_delete_a_post(sandbox: LinkedInSandbox) -> None:
    """Commentary is replaced by a partial update, and a second delete is not an error."""
    adapter = make_adapter(sandbox.base_url)
    sent = adapter.post(make_post("First (draft)"))
    adapter.edit(sent.remote_id, make_post("Second (final)"))
    assert sandbox.live_posts()[0].text == "Second (final)"
    adapter.delete(sent.remote_id)
    adapter.delete(sent.remote_id)
    assert sandbox.live_posts() == []


def test_find_is_unavailable(sandbox: LinkedInSandbox) -> None:
    """LinkedIn posts cannot be looked up by link here, and find says so."""
    with pytest.raises(PermanentError):
        make_adapter(sandbox.base_url).find(make_post("Hello"))


def test_verify_returns_the_organisation_name(sandbox: LinkedInSandbox) -> None:
    """The organisation lookup names the page."""
    assert make_adapter(sandbox.base_url).verify() == "Sandbox News"
