"""The config layer: ``config/*.yaml`` parsed into one frozen :class:`Config`.

Each YAML file holds one or more top-level sections (``feeds``, ``channels``, ``routing``,
``images``, ``search``); a section may appear in one file only. Errors name the file, the
dotted path and the problem:
``config/channels.yaml: channels[2].schedule.timezone: unknown time zone``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from syndication.config.channels import ChannelConfig, RoutingConfig, validate_references
from syndication.config.federation import FederationConfig
from syndication.config.feeds import FeedsConfig
from syndication.config.search import SearchConfig
from syndication.errors import ConfigError


class ImagesConfig(BaseModel):
    """Where lead images may be fetched from, and how much of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_hosts: tuple[str, ...] = ()
    # Private, loopback and link-local addresses are refused unless this is on (tests, demo).
    allow_private: bool = False
    max_bytes: int = Field(default=8_000_000, gt=0)
    timeout: float = Field(default=10.0, gt=0)


class Config(BaseModel):
    """Everything the YAML says: feeds, channels, routes, images, search engines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feeds: FeedsConfig = FeedsConfig()
    channels: tuple[ChannelConfig, ...] = ()
    routing: RoutingConfig = RoutingConfig()
    images: ImagesConfig = ImagesConfig()
    federation: FederationConfig = FederationConfig()
    search: SearchConfig = SearchConfig()

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channel names must be unique: {', '.join(dupes)}")
        problems = validate_references(self.channels, self.routing)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self

    def channel(self, name: str) -> ChannelConfig:
        """The channel called ``name``; :class:`ConfigError` if there is none."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise ConfigError(f"no channel named {name!r}")


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(path: Path) -> Config:
    """Read ``path`` (a folder of ``*.yaml`` files, or one file) into a :class:`Config`.

    A missing folder gives the defaults (no channels, feeds for every language seen).
    """
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
    if not path.exists():
        return Config()
    from syndication.config.check import check_config

    report = check_config(path) if files else None
    if report is not None and report.problems:
        # Every problem at once, each with file, line and dotted path.
        raise ConfigError("\n".join(str(p) for p in report.problems))
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: expected a mapping of sections at the top")
        for section, value in data.items():
            if section in merged:
                raise ConfigError(f"{file}: {section}: already defined in {origin[section]}")
            merged[section] = value
            origin[section] = file
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            where = origin.get(str(loc[0]), path) if loc else path
            lines.append(f"{where}: {_dotted(loc) or '(top)'}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
