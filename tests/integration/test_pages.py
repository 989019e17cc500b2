"""Pages for people: the feed list at / and /feeds/, the operators' /status behind a token,
and the stylesheet feeds name, fetched through the real app and parsed as HTML."""

from __future__ import annotations

import time
from typing import Any

import pytest
from lxml import etree, html
from pydantic import SecretStr
from starlette.applications import Starlette

from syndication.config import Config
from syndication.posts.ledger import Ledger
from syndication.server import create_app
from syndication.settings import Settings
from syndication.store import Store
from syndication.worklist import STAGES
from tests.integration.test_server import call, make_event, publish_and_render

TOKEN = "status-token-for-tests"


@pytest.fixture
def app(settings: Settings, config: Config, store: Store) -> Starlette:
    """The app on the test's Redis, with a status token."""
    with_token = settings.model_copy(update={"status_token": SecretStr(TOKEN)})
    return create_app(with_token, config, enqueue=lambda _e: None, store=store, freshness_ttl=0)


@pytest.fixture
def published(store: Store, config: Config) -> list[dict[str, Any]]:
    """Two Vietnamese articles and one English one, rendered into every feed they are in."""
    events = [
        make_event(1, title="Phố cổ Hội An <đêm rằm>", authors=[{"name": "Hoàng Anh Tuấn"}]),
        make_event(2, title="Nhã nhạc cung đình Huế"),
        make_event(3, language="en", title="Hue court music", url="https://portal.example/en/h"),
    ]
    for event in events:
        publish_and_render(store, config, event)
    return events


def _page(response: Any) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return html.fromstring(response.content)


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize("path", ["/", "/feeds/", "/feeds"])
def test_feed_list_shows_every_feed_per_language_with_subscribe_links(
    app: Starlette, store: Store, path: str
) -> None:
    """The list has a section per language, each feed with its RSS, Atom and JSON links
    (which are served), author names as written, and the language's latest items."""
    page = _page(call(app, "GET", path))
    sections = {s.get("lang"): s for s in page.iterfind(".//section")}
    assert set(sections) == {"vi", "en"}
    vi = sections["vi"]
    titles = [td.text_content() for td in vi.iterfind(".//tr[@class='feed']/td[1]")]
    assert titles[0] == "Cổng thông tin Việt Nam"
    assert "Cổng thông tin Việt Nam: Hoàng Anh Tuấn" in titles
    assert "Cổng thông tin Việt Nam: Di sản" in titles
    assert vi.xpath("string(.//tr[@class='feed'][1]/td[3])") == "2"  # items in vi/all
    links = vi.xpath(".//tr[@class='feed'][1]//a")
    assert [a.text for a in links] == ["RSS", "Atom", "JSON Feed"]
    assert links[0].get("href") == "/feeds/vi/all.rss"
    for a in links:
        assert call(app, "GET", a.get("href")).status_code == 200
    latest = [a.text for a in vi.iterfind(".//ul[@class='latest']/li/a")]
    assert latest == ["Nhã nhạc cung đình Huế", "Phố cổ Hội An <đêm rằm>"]  # escaped, as text
    assert b"<\xc4\x91\xc3\xaam" not in call(app, "GET", path).content  # no raw markup
    assert page.find(".//a[@href='/feeds/index.opml']") is not None
    assert not page.findall(".//script")


@pytest.mark.usefixtures("published")
def test_pages_answer_304_to_a_matching_etag(app: Starlette) -> None:
    """The feed list carries an ETag and the feeds' Cache-Control, and revalidates to 304."""
    first = call(app, "GET", "/feeds/")
    assert first.headers["cache-control"] == "public, max-age=60"
    again = call(app, "GET", "/feeds/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_status_page_needs_the_token(
    app: Starlette, settings: Settings, config: Config, store: Store
) -> None:
    """Without a configured token the page answers 503; without the right one 401."""
    unset = create_app(settings, config, enqueue=lambda _e: None, store=store)
    assert call(unset, "GET", "/status").status_code == 503
    assert call(app, "GET", "/status").status_code == 401
    wrong = call(app, "GET", "/status", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert call(app, "GET", f"/status?token={TOKEN}").status_code == 200
    ok = call(app, "GET", "/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.headers["cache-control"] == "private, no-cache"


@pytest.mark.usefixtures("published")
def test_status_page_shows_queues_feeds_posts_upcoming_failures_and_dead_letters(
    app: Starlette, store: Store, settings: Settings
) -> None:
    """The operators' page lists what the status command knows, the next 24 hours per
    channel, failed posts and dead letters, and never shows a secret."""
    from syndication.posts.ledger import Post, PostStatus

    ledger = Ledger(store)
    now = time.time()

    def post(n: int, channel: str, due: float) -> Post:
        return Post(
            id=f"{channel}--art-{n:05d}",
            channel=channel,
            platform="mastodon",
            article_id=f"art-{n:05d}",
            story_id=f"art-{n:05d}",
            status=PostStatus.PLANNED,
            text="text",
            link="https://portal.example/vi/x",
            language="vi",
            idempotency_key=f"k{n}",
            due_at=due,
            created_at=now,
            updated_at=now,
            title=f"Bài {n}",
        )

    ledger.create(post(1, "m-vi", now + 3600), enqueue=True)
    ledger.create(post(2, "m-vi", now + 3 * 86400), enqueue=True)  # beyond the next 24 hours
    ledger.create(post(3, "x-en", now + 60), enqueue=True)
    failed = post(4, "x-en", now - 60)
    ledger.create(failed, enqueue=True)
    ledger.transition(
        failed.id, PostStatus.PLANNED, PostStatus.FAILED, now, "403", last_error="403 forbidden"
    )
    from syndication.publishing import Publisher

    Publisher(store, settings.limits).publish(b'{"id": "evt-bad"}', source="test")
    response = call(app, "GET", "/status", headers={"Authorization": f"Bearer {TOKEN}"})
    page = _page(response)
    text = page.text_content()
    assert TOKEN not in response.text
    owed = [r.xpath("string(td[1])") for r in page.iterfind(".//table[@id='owed']/tbody/tr")]
    assert owed == list(STAGES)
    documents = [a.get("href") for a in page.iterfind(".//section[@id='feeds']//a")]
    assert "/feeds/vi/all.rss" in documents
    upcoming = page.get_element_by_id("upcoming")
    assert [h.text for h in upcoming.iterfind(".//h3")] == ["m-vi", "x-en"]
    assert "m-vi--art-00001" in upcoming.text_content()
    assert "m-vi--art-00002" not in upcoming.text_content()
    assert "403 forbidden" in page.get_element_by_id("failed").text_content()
    assert "evt-bad" in page.get_element_by_id("dead-letters").text_content()
    assert "no worker seen in the last minute" in text


def test_feeds_name_a_stylesheet_the_server_serves(
    app: Starlette, store: Store, config: Config
) -> None:
    """RSS names /feed.xsl, which the server answers with an XSLT stylesheet."""
    publish_and_render(store, config, make_event(1))
    rss = call(app, "GET", "/feeds/vi/all.rss", headers={"Accept-Encoding": "identity"})
    assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in rss.content
    xsl = call(app, "GET", "/feed.xsl")
    assert xsl.status_code == 200 and xsl.headers["content-type"].startswith("text/xsl")
    etree.XSLT(etree.fromstring(xsl.content))  # a stylesheet lxml accepts
