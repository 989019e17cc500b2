"""Actors from config, the documents we serve and send, and what an actor announces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syndication.config import Config, load_config
from syndication.errors import ConfigError
from syndication.events import Article
from syndication.federation import documents
from syndication.federation.actors import PUBLIC, Directory
from syndication.federation.federator import Action, decide
from syndication.federation.ledger import Announcement

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, federation: str) -> Config:
    (tmp_path / "feeds.yaml").write_text(
        (ROOT / "config" / "feeds.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "federation.yaml").write_text(federation, encoding="utf-8")
    return load_config(tmp_path)


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    """Actors for Vietnamese, Japanese heritage and English, on portal.example."""
    return Directory(
        _config(
            tmp_path,
            "federation:\n"
            "  base_url: https://portal.example\n"
            "  icon: https://portal.example/icon.png\n"
            "  actors:\n"
            "    - {language: vi}\n"
            "    - {language: vi, category: heritage}\n"
            "    - {language: ja, category: Heritage}\n"
            "    - {language: en, name: Vietnam Portal in English, summary: News in English}\n",
        )
    )


def _article(**fields: object) -> Article:
    base: dict[str, object] = {
        "id": "hue-2001-vi",
        "url": "https://portal.example/vi/heritage/hue",
        "language": "vi",
        "title": "Đại Nội Huế <rực rỡ>",
        "summary": "Kinh thành Huế đón du khách",
        "category": "heritage",
        "tags": ["unesco", "di sản", "2026"],
        "image": {
            "url": "https://portal.example/hue.jpg",
            "caption": "Ngọ Môn lúc hoàng hôn",
            "type": "image/jpeg",
            "width": 1200,
            "height": 800,
        },
        "published_at": "2026-11-20T08:00:00+07:00",
    }
    base.update(fields)
    return Article.model_validate(base)


def test_actors_are_named_from_the_feed_titles_in_their_language(directory: Directory) -> None:
    """Without a name in config, an actor takes its feed's title and description."""
    vi, vi_heritage, ja_heritage, en = directory.all()
    assert [a.username for a in directory.all()] == ["vi", "vi-heritage", "ja-heritage", "en"]
    assert vi.name == "Cổng thông tin Việt Nam"
    assert vi.summary == "Tin tức, di sản, con người và kinh tế Việt Nam"
    # A category actor is named as its feed is (site name and category, in the language).
    assert vi_heritage.name == "Cổng thông tin Việt Nam: Di sản"
    assert vi_heritage.feed_id == "vi/category/heritage"
    assert ja_heritage.name.endswith("遺産") and ja_heritage.category == "heritage"
    assert en.name == "Vietnam Portal in English" and en.summary == "News in English"
    assert vi.icon == "https://portal.example/icon.png"


def test_an_article_is_announced_by_its_language_and_its_category_actors(
    directory: Directory,
) -> None:
    """A Vietnamese heritage story goes to @vi and @vi-heritage, not to other languages."""
    assert [a.username for a in directory.for_article(_article())] == ["vi", "vi-heritage"]
    assert [a.username for a in directory.for_article(_article(category="people"))] == ["vi"]
    assert directory.for_article(_article(language="fr")) == []


def test_webfinger_resources_name_actors_on_our_domain_only(directory: Directory) -> None:
    """acct:vi@portal.example and the actor URL find @vi; another domain finds nothing."""
    assert directory.by_resource("acct:vi@portal.example") == directory.get("vi")
    assert directory.by_resource("acct:ja-heritage@PORTAL.example") == directory.get("ja-heritage")
    assert directory.by_resource("https://portal.example/users/en") == directory.get("en")
    assert directory.by_resource("acct:vi@elsewhere.example") is None
    assert directory.by_resource("acct:nobody@portal.example") is None


def test_object_urls_round_trip_with_their_incarnation(directory: Directory) -> None:
    """An object URL parses back to its actor, article id (escaped) and incarnation."""
    url = directory.object_url("vi", "a:b@c", 2)
    assert url == "https://portal.example/users/vi/articles/a%3Ab%40c/2"
    assert directory.parse_object_url(url) == ("vi", "a:b@c", 2)
    assert directory.parse_object_url(directory.object_url("vi", "x")) == ("vi", "x", 0)
    assert directory.parse_object_url("https://portal.example/users/zz/articles/x") is None


def test_the_webfinger_document_points_at_the_actor(directory: Directory) -> None:
    """The JRD's subject is the acct: URI and its self link is the activity+json actor."""
    doc = documents.webfinger(directory, directory.actors["ja-heritage"])
    assert doc["subject"] == "acct:ja-heritage@portal.example"
    [self_link] = [link for link in doc["links"] if link["rel"] == "self"]
    assert self_link == {
        "rel": "self",
        "type": "application/activity+json",
        "href": "https://portal.example/users/ja-heritage",
    }


def test_the_actor_document_has_what_mastodon_reads(directory: Directory) -> None:
    """Username, localised name and summary, icon, url, inbox, outbox, followers, key,
    shared inbox."""
    actor = directory.actors["vi"]
    doc = documents.actor_document(directory, actor, "-----BEGIN PUBLIC KEY-----\n...")
    assert doc["id"] == "https://portal.example/users/vi" and doc["type"] == "Service"
    assert doc["preferredUsername"] == "vi"
    assert doc["nameMap"] == {"vi": "Cổng thông tin Việt Nam"}
    assert doc["summary"].startswith("<p>Tin tức") and doc["summaryMap"]["vi"] == doc["summary"]
    assert doc["icon"] == {"type": "Image", "url": "https://portal.example/icon.png"}
    assert doc["inbox"] == "https://portal.example/users/vi/inbox"
    assert doc["outbox"] == "https://portal.example/users/vi/outbox"
    assert doc["followers"] == "https://portal.example/users/vi/followers"
    assert doc["endpoints"] == {"sharedInbox": "https://portal.example/inbox"}
    assert doc["publicKey"]["id"] == "https://portal.example/users/vi#main-key"
    assert doc["publicKey"]["owner"] == doc["id"]
    assert doc["@context"][0] == "https://www.w3.org/ns/activitystreams"


def test_nodeinfo_describes_the_software_and_its_usage(directory: Directory) -> None:
    """NodeInfo 2.1: a schema-valid software name, activitypub, actors and items counted."""
    doc = documents.nodeinfo(directory, local_posts=12, version="0.1.0")
    assert doc["version"] == "2.1" and doc["protocols"] == ["activitypub"]
    assert re.fullmatch(r"[a-z0-9-]+", doc["software"]["name"])
    assert doc["usage"] == {
        "users": {"total": 4, "activeMonth": 4, "activeHalfyear": 4},
        "localPosts": 12,
    }
    assert doc["openRegistrations"] is False
    links = documents.nodeinfo_links("https://portal.example")["links"]
    assert links == [
        {
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
            "href": "https://portal.example/nodeinfo/2.1",
        }
    ]


def test_a_note_carries_title_summary_link_hashtags_and_the_photo_with_alt_text(
    directory: Directory,
) -> None:
    """The Note's content is in contentMap under the article's language; tags are Hashtags;
    the lead image is an attachment whose name is its caption."""
    article = _article()
    note = documents.note(
        article,
        directory.actors["vi"],
        directory,
        object_id="https://portal.example/users/vi/articles/hue-2001-vi",
        tag_urls={"unesco": "https://portal.example/feeds/vi/tag/unesco.atom"},
    )
    assert note["type"] == "Note" and note["url"] == article.url
    assert list(note["contentMap"]) == ["vi"] and note["contentMap"]["vi"] == note["content"]
    assert "Đại Nội Huế &lt;rực rỡ&gt;" in note["content"]  # escaped, never raw HTML
    assert "Kinh thành Huế đón du khách" in note["content"]
    assert f'href="{article.url}"' in note["content"]
    assert note["tag"] == [
        {
            "type": "Hashtag",
            "name": "#Unesco",
            "href": "https://portal.example/feeds/vi/tag/unesco.atom",
        },
        {"type": "Hashtag", "name": "#DiSản"},
    ]
    assert note["attachment"] == [
        {
            "type": "Image",
            "mediaType": "image/jpeg",
            "url": "https://portal.example/hue.jpg",
            "name": "Ngọ Môn lúc hoàng hôn",
            "width": 1200,
            "height": 800,
        }
    ]
    assert note["to"] == [PUBLIC] and note["cc"] == ["https://portal.example/users/vi/followers"]
    assert "summary" not in note  # Mastodon would show it as a content warning
    assert note["published"] == "2026-11-20T01:00:00Z" and "updated" not in note


def test_an_article_object_has_the_title_as_its_name() -> None:
    """Object type Article: the title is ``name`` and the summary is ``summary``."""
    directory = Directory(Config.model_validate({"federation": {"actors": [{"language": "vi"}]}}))
    note = documents.note(
        _article(updated_at="2026-11-21T08:00:00+07:00"),
        directory.actors["vi"],
        directory,
        object_id="x",
        object_type="Article",
    )
    assert note["name"] == "Đại Nội Huế <rực rỡ>" and note["nameMap"] == {"vi": note["name"]}
    assert note["summary"] == "Kinh thành Huế đón du khách"
    assert note["updated"] == "2026-11-21T01:00:00Z"


def test_activities_wrap_their_object_publicly() -> None:
    """Create/Update/Delete are addressed to the public and the actor's followers."""
    doc = documents.activity(
        "Delete",
        "https://p/x#delete",
        "https://p/users/vi",
        documents.tombstone("https://p/x", "Note", 0),
        followers="https://p/users/vi/followers",
        published=0,
    )
    assert doc["type"] == "Delete" and doc["to"] == [PUBLIC]
    assert doc["object"] == {
        "id": "https://p/x",
        "type": "Tombstone",
        "formerType": "Note",
        "deleted": "1970-01-01T00:00:00Z",
    }


def test_the_accept_of_a_follow_is_deterministic() -> None:
    """Answering the same Follow twice gives the same Accept id (recorded once)."""
    follow = {"id": "https://peer/follows/1", "actor": "https://peer/users/a"}
    first = documents.accept("https://p/users/vi", follow)
    assert first == documents.accept("https://p/users/vi", follow)
    assert first["object"] == {
        "id": "https://peer/follows/1",
        "type": "Follow",
        "actor": "https://peer/users/a",
        "object": "https://p/users/vi",
    }


@pytest.mark.parametrize(
    ("announced", "wanted", "version", "expected"),
    [
        (None, True, 10.0, Action("Create", 0, 1)),
        (None, False, 10.0, None),
        (Announcement("live", 10.0, 1), True, 10.0, None),
        (Announcement("live", 10.0, 1), True, 11.0, Action("Update", 0, 2)),
        (Announcement("live", 11.0, 2), False, 11.0, Action("Delete", 0, 3)),
        (Announcement("deleted", 11.0, 3), False, 12.0, None),
        (Announcement("deleted", 11.0, 3, incarnation=0), True, 12.0, Action("Create", 1, 4)),
    ],
)
def test_decide_compares_the_article_with_what_was_announced(
    announced: Announcement | None, wanted: bool, version: float, expected: Action | None
) -> None:
    """New live → Create; newer revision → Update; gone → Delete; back after a Delete →
    Create of a new incarnation; nothing changed → nothing."""
    assert decide(announced, wanted, version) == expected


def test_duplicate_usernames_are_a_config_error(tmp_path: Path) -> None:
    """Two actors named ``vi`` are refused with the file and the section named."""
    expected = r"federation\.yaml(:\d+)?: federation: .*usernames must be"
    with pytest.raises(ConfigError, match=expected):
        _config(tmp_path, "federation:\n  actors: [{language: vi}, {language: vi}]\n")


def test_an_invalid_actor_language_names_its_field(tmp_path: Path) -> None:
    """A bad language tag is reported at federation.actors[0].language."""
    with pytest.raises(ConfigError, match=r"federation\.actors\[0\]\.language: .*BCP 47"):
        _config(tmp_path, "federation:\n  actors: [{language: 'vi_VN'}]\n")


def test_the_domain_defaults_to_the_host_of_the_base_url(tmp_path: Path) -> None:
    """Without federation.base_url the feeds' base URL is used, with its port in handles."""
    directory = Directory(_config(tmp_path, "federation:\n  actors: [{language: vi}]\n"))
    assert directory.base_url == "http://127.0.0.1:8000" and directory.domain == "127.0.0.1:8000"
    assert directory.handles(["vi"]) == ["@vi@127.0.0.1:8000"]


def test_hashtags_of_tags_with_a_feed_link_to_it(tmp_path: Path) -> None:
    """Tags listed in feeds.tags link to their Atom feed; other tags get no link."""
    config = _config(tmp_path, "federation:\n  actors: [{language: vi}]\n")
    urls = documents.tag_feed_urls(_article(tags=["UNESCO", "di sản"]), config.feeds)
    assert urls == {"UNESCO": "http://127.0.0.1:8000/feeds/vi/tag/unesco.atom"}


@pytest.mark.parametrize(
    ("tag", "name"),
    [("di sản", "#DiSản"), ("digital-transformation", "#DigitalTransformation"), ("2026", None)],
)
def test_tags_become_hashtags_mastodon_links(tag: str, name: str | None) -> None:
    """Words are joined in CamelCase, any script kept; an all-digit tag is no hashtag."""
    assert documents.hashtag_name(tag) == name
