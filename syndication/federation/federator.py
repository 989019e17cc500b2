"""Publishing: the ``federate`` work list, from article changes to activities and deliveries.

The apply script records an article id in the ``federate`` work list whenever an event
changes the article (when actors are configured). The :class:`Federator` takes ids from it
and, for each actor that announces the article now or did before, compares the article's
current state with what that actor last announced (:func:`decide`, pure):

- live, never announced (or deleted since): ``Create`` of a new object;
- live, announced an older revision: ``Update`` of the same object;
- retracted, or no longer in the actor's language or category: ``Delete`` with a Tombstone.

Each activity is recorded with one delivery per follower inbox (once per shared inbox) by
the ledger, in one script that also moves the actor's announcement on; the work-list item is
completed only after that, so a crash redoes the comparison, never half of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import structlog

from syndication.config import Config
from syndication.errors import SyndicationError
from syndication.events import Article
from syndication.federation import documents
from syndication.federation.accounts import Accounts
from syndication.federation.actors import Actor, Directory
from syndication.federation.ledger import Announcement, DeliveryLedger, NewActivity
from syndication.store import Store
from syndication.worklist import WorkList

__all__ = ["FEDERATE_LEASE", "Action", "FederateReport", "Federator", "decide"]

log = structlog.get_logger(__name__)

FEDERATE_LEASE = 120.0

Kind = Literal["Create", "Update", "Delete"]


@dataclass(frozen=True)
class Action:
    """What one actor must announce about one article."""

    kind: Kind
    incarnation: int
    seq: int


def decide(announced: Announcement | None, wanted: bool, version: float) -> Action | None:
    """The activity that brings followers from ``announced`` to the article's state.

    Args:
        announced: what the actor last announced of the article (None: nothing yet).
        wanted: the article is live and in the actor's language (and category).
        version: the article's revision (its ``updated_at``, else ``published_at``).
    """
    seq = (announced.seq if announced else 0) + 1
    if announced is None or announced.state == "deleted":
        if not wanted:
            return None
        incarnation = 0 if announced is None else announced.incarnation + 1
        return Action("Create", incarnation, seq)
    if not wanted:
        return Action("Delete", announced.incarnation, seq)
    if version > announced.version:
        return Action("Update", announced.incarnation, seq)
    return None


@dataclass
class FederateReport:
    """What one run over the ``federate`` work list did."""

    articles: int = 0
    activities: int = 0
    deliveries: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Federator:
    """Turns article changes into activities of the actors that announce them."""

    def __init__(
        self,
        store: Store,
        directory: Directory,
        accounts: Accounts,
        ledger: DeliveryLedger,
        config: Config,
    ) -> None:
        self.store = store
        self.directory = directory
        self.accounts = accounts
        self.ledger = ledger
        self.config = config
        self.work = WorkList(store, "federate")

    def run(self, *, budget: float = 10.0, batch: int = 50) -> FederateReport:
        """Federate the articles owed, until none is due or ``budget`` seconds are spent."""

        def failed(article_id: str, exc: Exception, attempts: int) -> None:
            log.warning(
                "federation.failed", article_id=article_id, error=str(exc), attempts=attempts
            )

        done, report = self.work.work_off(
            self.federate, lease=FEDERATE_LEASE, budget=budget, batch=batch, on_failure=failed
        )
        summary = FederateReport(articles=len(done), failed=report)
        for recorded in done:
            for kind, deliveries in recorded:
                summary.activities += 1
                summary.deliveries += deliveries
                summary.kinds[kind] = summary.kinds.get(kind, 0) + 1
        return summary

    def federate(self, article_id: str, now: float) -> list[tuple[str, int]]:
        """Announce what changed about one article; returns (activity type, deliveries)."""
        state = self.store.article_state(article_id)
        article = self.store.get_article(article_id)
        live = article is not None and state is not None and state.state == "live"
        announced = self.ledger.announcements(article_id)
        recorded: list[tuple[str, int]] = []
        for actor in self.directory.all():
            wanted = live and article is not None and actor.announces(article)
            version = article.version.timestamp() if article is not None else 0.0
            action = decide(announced.get(actor.username), wanted, version)
            if action is None:
                continue
            previous = announced.get(actor.username)
            count = self._record(actor, article_id, article, action, previous, version, now)
            recorded.append((action.kind, count))
            log.info(
                "federation.announced",
                article_id=article_id,
                actor=actor.username,
                activity=action.kind,
                deliveries=count,
            )
        return recorded

    def _record(
        self,
        actor: Actor,
        article_id: str,
        article: Article | None,
        action: Action,
        previous: Announcement | None,
        version: float,
        now: float,
    ) -> int:
        d = self.directory
        object_type = previous.object_type if previous else self.config.federation.object_type
        object_id = d.object_url(actor.username, article_id, action.incarnation)
        activity_id = f"{object_id}#{action.kind.lower()}"
        if action.kind == "Update":
            activity_id += f"-{action.seq}"
        if action.kind == "Delete" or article is None:
            obj = documents.tombstone(object_id, object_type, now)
            state, version = "deleted", previous.version if previous else 0.0
        else:
            object_type = (
                self.config.federation.object_type if action.kind == "Create" else object_type
            )
            obj = documents.note(
                article,
                actor,
                d,
                object_id=object_id,
                object_type=object_type,
                tag_urls=documents.tag_feed_urls(article, self.config.feeds),
            )
            state = "live"
        body = documents.activity(
            action.kind,
            activity_id,
            d.actor_url(actor.username),
            obj,
            followers=d.followers_url(actor.username),
            published=now,
        )
        announcement = Announcement(state, version, action.seq, action.incarnation, object_type)
        recorded = self.ledger.record(
            NewActivity(activity_id, action.kind, actor.username, json.dumps(body), article_id),
            self.accounts.targets(actor.username),
            now,
            expected_seq=action.seq - 1,
            announcement=announcement,
        )
        if recorded is None:
            raise SyndicationError(
                f"federation: {actor.username}'s announcement of {article_id} moved on meanwhile"
            )
        return recorded
