"""The CLI's shared context: settings from options and environment, built once per command."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from syndication.config import Config, load_config
from syndication.connection import connect
from syndication.decoding import escape_surrogates, printable
from syndication.errors import ConfigError, StoreError
from syndication.keys import Keys
from syndication.settings import Settings
from syndication.store import Store

if TYPE_CHECKING:
    from celery import Celery


@dataclass
class CliContext:
    """Everything a command needs, created lazily from the root options."""

    overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def settings(self) -> Settings:
        """Settings from the environment, with the root options on top."""
        return Settings(**{k: v for k, v in self.overrides.items() if v is not None})

    @cached_property
    def config(self) -> Config:
        """The YAML config; a :class:`ConfigError` becomes a clean CLI error."""
        try:
            return load_config(self.settings.config_path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def store(self) -> Store:
        """The Redis store."""
        try:
            return Store(
                connect(self.settings),
                Keys(self.settings.prefix),
                event_memory_seconds=self.settings.event_memory_seconds,
            )
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def app(self) -> Celery:
        """The Celery app (imported lazily: only commands that send tasks need it)."""
        from workers.app import create_app

        return create_app(self.settings, self.config)

    def nudge_drain(self) -> None:
        """Ask a worker to drain the inbox now (the producers' nudge; beat does it anyway)."""
        from workers.handles import DRAIN_INBOX

        DRAIN_INBOX.send(self.app)


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)
out = Console(soft_wrap=True)
err = Console(stderr=True)


def print_json(document: object) -> None:
    """One JSON document on stdout, no colour, nothing else (lone surrogates escaped)."""
    click.echo(escape_surrogates(json.dumps(document, ensure_ascii=False, indent=2, default=str)))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on stdout (or a one-line note when there is nothing to list)."""
    if not rows:
        err.print(f"No {title.lower()}.")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: cells hold what outsiders sent ("[/x]" would be a markup error),
        # and Text drops control codes a terminal would obey.
        table.add_row(*[Text(printable("" if v is None else str(v), keep_lines=True)) for v in row])
    out.print(table)


def read_path(path: str) -> str:
    """Text of ``path`` or of standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from None
