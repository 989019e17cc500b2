"""Social posts: planned from articles, sent once, kept in step with their articles.

:class:`Posts` composes the parts over one store and config: the :class:`Ledger`, the
:class:`Planner` (the ``plan`` work list), the :class:`Sender` (claims and sends, reconciles
the unknown), the :class:`Syncer` (edits and deletes, the ``sync`` work list) and the
:class:`Dispatcher` (due posts to senders). Pure rules live beside them: routing, scheduling,
fitting, templating and :func:`~syndication.posts.decide.decide`; the planner's search reads
each channel's schedule state through :mod:`~syndication.posts.calendar`, whose cost per post
does not grow with what is already planned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syndication.posts.service import Posts

__all__ = ["Posts"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that reading the ledger (``status``, ``posts list``) does not
    # import the planner, the fitting rules and the platform clients.
    if name == "Posts":
        from syndication.posts.service import Posts

        return Posts
    raise AttributeError(f"module 'syndication.posts' has no attribute {name!r}")
