"""syndication: event-driven feeds and social posts for a multilingual news portal."""

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
