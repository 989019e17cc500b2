"""Settings from the environment (prefix ``SYNDICATION_``; ``REDIS_URL`` also plain).

Callers get one :class:`Settings` from :func:`get_settings` and pass it down. Secrets are
``SecretStr``: their ``repr`` and ``str`` show ``**********``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Limits(BaseModel):
    """Size limits applied to every incoming event (characters unless stated)."""

    model_config = {"frozen": True}

    id_length: int = 200
    title: int = 500
    summary: int = 5_000
    content_html: int = 500_000
    tags: int = 30
    tag_length: int = 100
    authors: int = 20
    name_length: int = 200
    caption: int = 1_000
    url_length: int = 2_048
    event_bytes: int = 1_048_576


class Settings(BaseSettings):
    """Everything a process needs from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="SYNDICATION_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SYNDICATION_REDIS_URL", "REDIS_URL")
    )
    prefix: str = "synd"
    config_path: Path = Path("config")
    data_dir: Path = Path("data")
    limits: Limits = Limits()
    # Dead letters and the event-id memory are kept this long (seconds).
    event_memory_seconds: int = 30 * 24 * 3600
    # Celery: unacked tasks come back after this long when a whole worker dies.
    visibility_timeout: int = 300
    webhook_secret: SecretStr | None = None
    # Bearer token of the operators' page GET /status (unset: the page answers 503).
    status_token: SecretStr | None = None
    # Inbox stream: entries applied per Redis round trip, and how long an entry read by a
    # consumer that went silent waits before another consumer claims it.
    inbox_batch: int = 500
    inbox_claim_after: float = 30.0
    # A sender holds a claimed post this long; past it the post is reconciled, not re-sent.
    post_lease_seconds: float = 120.0
    # A worker holds work it took from a work list (a plan, an edit, a ping) this long; past
    # it the work is due again (its taker died).
    work_lease_seconds: float = 120.0

    def to_env(self) -> dict[str, str]:
        """The environment variables that give a child process these settings (secrets
        included: pass them to processes, never print them)."""
        env = {
            "SYNDICATION_PREFIX": self.prefix,
            "SYNDICATION_DATA_DIR": str(self.data_dir),
            "SYNDICATION_CONFIG_PATH": str(self.config_path),
            "SYNDICATION_EVENT_MEMORY_SECONDS": str(self.event_memory_seconds),
            "SYNDICATION_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
            "SYNDICATION_INBOX_BATCH": str(self.inbox_batch),
            "SYNDICATION_INBOX_CLAIM_AFTER": str(self.inbox_claim_after),
            "SYNDICATION_POST_LEASE_SECONDS": str(self.post_lease_seconds),
            "SYNDICATION_WORK_LEASE_SECONDS": str(self.work_lease_seconds),
        }
        for name, value in self.limits.model_dump().items():
            env[f"SYNDICATION_LIMITS__{name.upper()}"] = str(value)
        if self.redis_url is not None:
            env["REDIS_URL"] = self.redis_url.get_secret_value()
        if self.webhook_secret is not None:
            env["SYNDICATION_WEBHOOK_SECRET"] = self.webhook_secret.get_secret_value()
        if self.status_token is not None:
            env["SYNDICATION_STATUS_TOKEN"] = self.status_token.get_secret_value()
        return env

    @property
    def redis_url_value(self) -> str | None:
        """The Redis URL in clear, for the client only; never log it."""
        return self.redis_url.get_secret_value() if self.redis_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process."""
    return Settings()
