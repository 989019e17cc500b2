"""syndication: event-driven feeds and social posts for a multilingual news portal.

The public API is imported on first use (PEP 562), so ``import syndication`` (and the CLI's
start) costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syndication.errors import (
        ConfigError,
        EventValidationError,
        FieldError,
        PermanentError,
        PlatformError,
        RateLimited,
        StoreError,
        StoreUnavailable,
        SyndicationError,
        TransientError,
    )
    from syndication.events import (
        Article,
        ArticlePublished,
        ArticleUnpublished,
        ArticleUpdated,
        ParsedEvent,
        parse_event,
    )
    from syndication.publishing import publish
    from syndication.settings import Settings, get_settings

# Public name -> the module that defines it.
_WHERE = {
    "ConfigError": "syndication.errors",
    "EventValidationError": "syndication.errors",
    "FieldError": "syndication.errors",
    "PermanentError": "syndication.errors",
    "PlatformError": "syndication.errors",
    "RateLimited": "syndication.errors",
    "StoreError": "syndication.errors",
    "StoreUnavailable": "syndication.errors",
    "SyndicationError": "syndication.errors",
    "TransientError": "syndication.errors",
    "Article": "syndication.events",
    "ArticlePublished": "syndication.events",
    "ArticleUnpublished": "syndication.events",
    "ArticleUpdated": "syndication.events",
    "ParsedEvent": "syndication.events",
    "parse_event": "syndication.events",
    "publish": "syndication.publishing",
    "Settings": "syndication.settings",
    "get_settings": "syndication.settings",
}

__all__ = [
    "Article",
    "ArticlePublished",
    "ArticleUnpublished",
    "ArticleUpdated",
    "ConfigError",
    "EventValidationError",
    "FieldError",
    "ParsedEvent",
    "PermanentError",
    "PlatformError",
    "RateLimited",
    "Settings",
    "StoreError",
    "StoreUnavailable",
    "SyndicationError",
    "TransientError",
    "get_settings",
    "parse_event",
    "publish",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'syndication' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
