"""Which actors exist, their names and URLs, and which of them announce an article.

Pure: a :class:`Directory` is built from the config once and answers from memory. An actor
is one followable account (``@vi@portal.example``, ``@ja-heritage@portal.example``) that
mirrors one feed: a language's ``all`` feed or one of its categories. Its name and summary
default to that feed's title and description in the feeds config, in the feed's language.

URLs (under ``federation.base_url``, by default the feeds' ``base_url``)::

    /users/{username}                     the actor (application/activity+json)
    /users/{username}/inbox               its inbox; /inbox is the shared one
    /users/{username}/outbox              its latest items (paged)
    /users/{username}/followers           how many follow it
    /users/{username}/articles/{id}[/{n}] the Note of one article (n: re-published after a Delete)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from feeds.catalog import FeedRef, feed_description, feed_title, site_url
from syndication.config import Config
from syndication.config.federation import ActorConfig
from syndication.events import Article

__all__ = ["PUBLIC", "Actor", "Directory"]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@dataclass(frozen=True)
class Actor:
    """One followable account and the feed it mirrors."""

    username: str
    language: str
    category: str | None
    name: str
    summary: str
    icon: str | None
    # The feed whose items the outbox lists, and the page a browser is sent to.
    feed_id: str
    home_url: str

    def announces(self, article: Article) -> bool:
        """Whether this actor announces ``article`` (its language, and its category if set)."""
        if article.language != self.language:
            return False
        return self.category is None or article.category == self.category


class Directory:
    """Every configured actor, with the URLs that name them."""

    def __init__(self, config: Config) -> None:
        fed = config.federation
        self.base_url = (fed.base_url or config.feeds.base_url).rstrip("/")
        self.domain = fed.domain or urlsplit(self.base_url).netloc.lower()
        self.site_name = config.feeds.site_name
        self.actors = {a.handle: self._actor(a, config) for a in fed.actors}

    @staticmethod
    def _actor(entry: ActorConfig, config: Config) -> Actor:
        ref = (
            FeedRef(entry.language, "category", entry.category)
            if entry.category
            else FeedRef(entry.language, "all")
        )
        return Actor(
            username=entry.handle,
            language=entry.language,
            category=entry.category,
            name=entry.name or feed_title(ref, config.feeds),
            summary=entry.summary or feed_description(ref, config.feeds),
            icon=entry.icon or config.federation.icon,
            feed_id=ref.id,
            home_url=site_url(ref, config.feeds),
        )

    # --- lookups ------------------------------------------------------------------------
    def get(self, username: str) -> Actor | None:
        """The actor with this username, or None."""
        return self.actors.get(username)

    def all(self) -> list[Actor]:
        """Every actor, in config order."""
        return list(self.actors.values())

    def for_article(self, article: Article) -> list[Actor]:
        """The actors that announce ``article``: its language's, and its category's."""
        return [a for a in self.actors.values() if a.announces(article)]

    def by_resource(self, resource: str) -> Actor | None:
        """The actor a WebFinger ``resource`` names: ``acct:vi@host`` or its actor URL."""
        text = resource.strip()
        if text.startswith("acct:"):
            user, _, host = text[5:].lstrip("@").rpartition("@")
            if host.lower() != self.domain:
                return None
            return self.actors.get(user.lower())
        return self.by_url(text)

    def by_url(self, url: str) -> Actor | None:
        """The actor whose id is ``url``, or None."""
        prefix = self.base_url + "/users/"
        if not url.startswith(prefix):
            return None
        return self.actors.get(url[len(prefix) :])

    def handles(self, usernames: Iterable[str]) -> list[str]:
        """``@name@domain`` for each username."""
        return [f"@{u}@{self.domain}" for u in usernames]

    # --- URLs ---------------------------------------------------------------------------
    def actor_url(self, username: str) -> str:
        """The actor's id."""
        return f"{self.base_url}/users/{username}"

    def key_id(self, username: str) -> str:
        """The id of the actor's public key (what its signatures name as ``keyId``)."""
        return self.actor_url(username) + "#main-key"

    def inbox_url(self, username: str) -> str:
        """The actor's own inbox."""
        return self.actor_url(username) + "/inbox"

    def outbox_url(self, username: str) -> str:
        """The actor's outbox collection."""
        return self.actor_url(username) + "/outbox"

    def followers_url(self, username: str) -> str:
        """The actor's followers collection."""
        return self.actor_url(username) + "/followers"

    @property
    def shared_inbox_url(self) -> str:
        """The one inbox for every actor (what servers deliver to once for all of them)."""
        return self.base_url + "/inbox"

    def object_url(self, username: str, article_id: str, incarnation: int = 0) -> str:
        """The id of the Note one actor published for one article.

        Each actor has its own object (its ``attributedTo`` differs). After a Delete, a
        re-published article gets a new id (``incarnation``): servers keep a tombstone of
        the deleted one and would ignore a Create that reused it.
        """
        url = f"{self.actor_url(username)}/articles/{quote(article_id, safe='')}"
        return url if incarnation == 0 else f"{url}/{incarnation}"

    def parse_object_url(self, url: str) -> tuple[str, str, int] | None:
        """(username, article id, incarnation) of an object URL of ours, or None."""
        prefix = self.base_url + "/users/"
        if not url.startswith(prefix):
            return None
        parts = url[len(prefix) :].split("#", 1)[0].split("/")
        if len(parts) not in (3, 4) or parts[1] != "articles" or parts[0] not in self.actors:
            return None
        incarnation = 0
        if len(parts) == 4:
            if not parts[3].isdigit():
                return None
            incarnation = int(parts[3])
        return parts[0], unquote(parts[2]), incarnation
