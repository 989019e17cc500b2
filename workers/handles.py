"""Every Celery task by name, queue and arguments, in one place: typed handles for callers.

Callers send a task with ``DELIVER.send(app, post_ids)`` instead of
``app.send_task("syndication.deliver", (post_ids,))``: the name cannot be mistyped and mypy
checks the arguments. Importing this module imports no Celery (the CLI starts fast); the task
bodies in :mod:`workers.tasks` are registered under the same names, and a test checks that the
two agree, argument names included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec

from syndication.keys import QUEUES

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "DELIVER",
    "DELIVER_ACTIVITY",
    "DISPATCH_DUE",
    "DRAIN_INBOX",
    "EXPORT",
    "FEDERATE",
    "HANDLES",
    "INDEXNOW",
    "INGEST",
    "NOOP",
    "PLAN_POSTS",
    "QUEUES",
    "RECONCILE",
    "RENDER_FEEDS",
    "SWEEP",
    "SYNC_POSTS",
    "WEBSUB",
    "Handle",
]

P = ParamSpec("P")


@dataclass(frozen=True)
class Handle(Generic[P]):
    """A task's name and queue, typed by its arguments."""

    name: str
    queue: str
    # The task's parameter names, in order (checked against the registered task by a test).
    params: tuple[str, ...] = ()

    def send(self, app: Celery, /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Queue the task with these arguments."""
        app.send_task(self.name, args=args, kwargs=kwargs, queue=self.queue)

    def send_later(
        self, app: Celery, countdown: float, /, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Queue the task to run ``countdown`` seconds from now (short delays only: the Redis
        transport redelivers long ETAs after its visibility timeout)."""
        app.send_task(self.name, args=args, kwargs=kwargs, queue=self.queue, countdown=countdown)


NOOP = Handle[[]]("syndication.noop", "ingest")
INGEST = Handle[[Any, str]]("syndication.ingest", "ingest", ("payload", "source"))
DRAIN_INBOX = Handle[[]]("syndication.drain_inbox", "ingest")
RENDER_FEEDS = Handle[[list[str]]]("syndication.render_feeds", "render", ("feed_ids",))
SWEEP = Handle[[]]("syndication.sweep", "render")
WEBSUB = Handle[[]]("syndication.websub", "render")
EXPORT = Handle[[]]("syndication.export", "render")
# Waits on a search engine's endpoint: with the other network calls.
INDEXNOW = Handle[[]]("syndication.indexnow", "deliver")
PLAN_POSTS = Handle[[]]("syndication.plan_posts", "deliver")
SYNC_POSTS = Handle[[]]("syndication.sync_posts", "deliver")
DISPATCH_DUE = Handle[[]]("syndication.dispatch_due", "deliver")
DELIVER = Handle[[list[str]]]("syndication.deliver", "deliver", ("post_ids",))
RECONCILE = Handle[[str]]("syndication.reconcile", "deliver", ("post_id",))
FEDERATE = Handle[[]]("syndication.federate", "deliver")
DELIVER_ACTIVITY = Handle[[str]]("syndication.deliver_activity", "deliver", ("delivery_id",))

HANDLES: tuple[Handle[Any], ...] = (
    NOOP,
    INGEST,
    DRAIN_INBOX,
    RENDER_FEEDS,
    SWEEP,
    WEBSUB,
    EXPORT,
    INDEXNOW,
    PLAN_POSTS,
    SYNC_POSTS,
    DISPATCH_DUE,
    DELIVER,
    RECONCILE,
    FEDERATE,
    DELIVER_ACTIVITY,
)


def task_routes() -> Mapping[str, Mapping[str, str]]:
    """Celery's ``task_routes``: each task to its queue."""
    return {h.name: {"queue": h.queue} for h in HANDLES}
