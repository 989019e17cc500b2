"""The exception hierarchy of the project.

::

    SyndicationError
    ├── EventValidationError      an event failed validation (carries field-named errors)
    ├── ConfigError               config/*.yaml is invalid (file, dotted path, problem)
    ├── StoreError                Redis state is not what an operation needs
    │   └── StoreUnavailable      Redis could not be reached (for as long as we retried)
    └── PlatformError             a social platform refused or failed a call
        ├── TransientError        outage, 5xx, timeout, connection refused: retry later
        │   └── RateLimited       429 or a quota: retry after ``retry_after`` seconds
        ├── PermanentError        auth, permission, content: retrying cannot help
        └── UncertainOutcome      the call may or may not have taken effect: reconcile

Messages name the field first, then what is wrong, as click's ``BadParameter`` does:
``article.image.url: not an absolute http(s) URL``. No message, ``repr`` or exception
argument ever carries a credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syndication.logging import scrub


class SyndicationError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of an input, addressed by its dotted path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class EventValidationError(SyndicationError):
    """An event was rejected; ``errors`` names every field that is wrong."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class ConfigError(SyndicationError):
    """The YAML configuration is invalid; the message gives file, path and problem."""


class StoreError(SyndicationError):
    """Redis holds no such thing, or not in the state the operation needs."""


class StoreUnavailable(StoreError):
    """Redis could not be reached; the message names the error type, never the URL."""


class PlatformError(SyndicationError):
    """A platform call failed. ``platform`` names it; the message is the platform's, with
    any credential scrubbed out (it reaches logs, the ledger and ``posts show``)."""

    def __init__(self, platform: str, message: str, *, status: int | None = None) -> None:
        self.platform = platform
        self.status = status
        super().__init__(f"{platform}: {scrub(message)}")


class TransientError(PlatformError):
    """The platform is down, slow or erroring; the same request may succeed later."""


class RateLimited(TransientError):
    """The platform said to slow down; ``retry_after`` is seconds until it allows more."""

    def __init__(
        self, platform: str, message: str, *, retry_after: float, status: int | None = 429
    ) -> None:
        self.retry_after = max(0.0, retry_after)
        super().__init__(platform, message, status=status)


class PermanentError(PlatformError):
    """The platform refused the request for a reason a retry cannot change."""


class UncertainOutcome(PlatformError):
    """The request may have been carried out (lost response, timeout after sending)."""
