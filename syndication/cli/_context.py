"""The CLI's shared context: settings from options and environment, built once per command,
and the output helpers every command uses (tables, JSON, times, progress)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from syndication.connection import connect, existing_redis_url
from syndication.decoding import escape_surrogates, printable
from syndication.embedded import socket_path
from syndication.errors import ConfigError, StoreError
from syndication.keys import Keys
from syndication.settings import Settings
from syndication.store import Store

if TYPE_CHECKING:
    from celery import Celery

    from syndication.config import Config

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliContext:
    """Everything a command needs, created lazily from the root options."""

    overrides: dict[str, Any] = field(default_factory=dict)
    # Output choices: whole cells (--wide) and the operator's time zone (--tz; None: local).
    wide: bool = False
    tz: tzinfo | None = None

    @cached_property
    def settings(self) -> Settings:
        """Settings from the environment, with the root options on top."""
        return Settings(**{k: v for k, v in self.overrides.items() if v is not None})

    @cached_property
    def config(self) -> Config:
        """The YAML config; a :class:`ConfigError` becomes a clean CLI error."""
        from syndication.config import load_config

        try:
            return load_config(self.settings.config_path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def store(self) -> Store:
        """The Redis store (the embedded Redis is started when it is not running)."""
        try:
            return self._store(connect(self.settings))
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None

    @cached_property
    def reader(self) -> Store:
        """The Redis store for commands that only read: never starts the embedded Redis.

        Raises a clean CLI error naming the socket when the embedded Redis is not running
        (starting one would only show an empty system, and leave a server behind).
        """
        import redis

        url = existing_redis_url(self.settings)
        if url is None:
            sock = socket_path(self.settings.data_dir)
            raise click.ClickException(
                f"the embedded Redis ({sock}) is not running, so there is nothing to read; "
                "start it with `./syndication redis start` (or run the demo, a worker, or set "
                "REDIS_URL)"
            )
        return self._store(redis.Redis.from_url(url, health_check_interval=30))

    def _store(self, client: Any) -> Store:
        return Store(
            client,
            Keys(self.settings.prefix),
            event_memory_seconds=self.settings.event_memory_seconds,
        )

    @cached_property
    def app(self) -> Celery:
        """The Celery app (imported lazily: only commands that send tasks need it)."""
        from workers.app import create_app

        return create_app(self.settings, self.config)

    def nudge_drain(self) -> None:
        """Ask a worker to drain the inbox now (the producers' nudge; beat does it anyway)."""
        from workers.handles import DRAIN_INBOX

        DRAIN_INBOX.send(self.app)

    def when(self, ts: float | None) -> str:
        """A Unix time as ISO 8601 in the operator's zone (``""`` for none)."""
        return format_time(ts, self.tz)


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)
out = Console(soft_wrap=True)
# Messages are not wrapped by rich: the terminal wraps them, and a pipe keeps them whole.
err = Console(stderr=True, soft_wrap=True)


# --- times --------------------------------------------------------------------------------
def parse_tz(name: str | None) -> tzinfo | None:
    """An IANA zone (``Asia/Tokyo``, ``UTC``); ``None`` or ``local`` for the machine's zone."""
    if not name or name.lower() == "local":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {name!r} (an IANA name such as Asia/Ho_Chi_Minh, or local)",
            param_hint="--tz",
        ) from None


def format_time(ts: float | None, tz: tzinfo | None = None) -> str:
    """ISO 8601 with the zone's offset, to the second: ``2026-11-20T09:00:00+07:00``."""
    if not ts:
        return ""
    moment = datetime.fromtimestamp(ts, tz) if tz else datetime.fromtimestamp(ts).astimezone()
    return moment.isoformat(timespec="seconds")


def _set_wide(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).wide = True


def _set_tz(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(CliContext).tz = parse_tz(value)


def tz_option(func: F) -> F:
    """``--tz ZONE``: show times in this zone (default: the machine's local zone)."""
    return click.option(
        "--tz",
        expose_value=False,
        callback=_set_tz,
        is_eager=True,
        envvar="SYNDICATION_TZ",
        show_envvar=True,
        metavar="ZONE",
        help="Time zone of printed times, e.g. Asia/Ho_Chi_Minh or UTC (default: local).",
    )(func)


def table_options(func: F) -> F:
    """``--wide`` and ``--tz`` for a command that prints a table."""
    func = click.option(
        "--wide",
        is_flag=True,
        expose_value=False,
        callback=_set_wide,
        is_eager=True,
        help="Print every cell whole (wrapped) instead of cut to the terminal's width.",
    )(func)
    return tz_option(func)


# --- output -------------------------------------------------------------------------------
def print_json(document: object) -> None:
    """One JSON document on stdout, no colour, nothing else (lone surrogates escaped)."""
    click.echo(escape_surrogates(json.dumps(document, ensure_ascii=False, indent=2, default=str)))


def is_terminal() -> bool:
    """Whether stdout is a terminal (else tables print as tab-separated rows)."""
    return sys.stdout.isatty()


def _cell(value: object) -> str:
    return printable("" if value is None else str(value), keep_lines=True)


def print_table(
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    *,
    wide: bool = False,
    numeric: tuple[str, ...] = (),
) -> None:
    """A table on stdout: fitted to the terminal (cells cut with an ellipsis; ``wide``
    wraps them whole), or plain tab-separated rows with a header when stdout is not a
    terminal. Nothing to list: a one-line note on stderr."""
    if not rows:
        err.print(f"No {title.lower()}.")
        return
    if not is_terminal():
        # One line per row for grep, cut and awk: tabs and line breaks inside a cell
        # become spaces.
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(" ".join(_cell(v).split()) for v in row))
        return
    context = click.get_current_context(silent=True)
    obj = context.find_object(CliContext) if context else None
    wide = wide or bool(obj and obj.wide)
    # Text, not markup: cells hold what outsiders sent ("[/x]" would be a markup error), and
    # Text drops control codes a terminal would obey. A cut table shows a cell's first line.
    cells: list[list[Text]] = [
        [Text(_cell(v) if wide else (_cell(v).splitlines() or [""])[0]) for v in row]
        for row in rows
    ]
    widths = None if wide else fit_widths(columns, cells, out.width)
    table = Table(title=title, title_justify="left", expand=False)
    for i, column in enumerate(columns):
        right = column in numeric or column == "#"
        table.add_column(
            column,
            overflow="fold" if wide else "ellipsis",
            no_wrap=not wide,
            justify="right" if right else "left",
            max_width=widths[i] if widths else None,
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    out.print(table, soft_wrap=False)


def fit_widths(columns: list[str], rows: list[list[Text]], total: int) -> list[int]:
    """Column widths that fit a ``total``-wide terminal: the widest columns give up room
    first (ids, URLs, errors), none below its header's width (or 6)."""
    natural = [
        max([len(name), *(row[i].cell_len for row in rows)]) for i, name in enumerate(columns)
    ]
    floor = [min(n, max(len(name), 6)) for n, name in zip(natural, columns, strict=True)]
    room = total - (3 * len(columns) + 1)  # borders and one space of padding each side
    widths = list(natural)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: widths[i] - floor[i])
        if widths[widest] <= floor[widest]:
            break  # nothing left to give: the terminal is narrower than the headers
        widths[widest] -= 1
    return widths


def read_path(path: str) -> str:
    """Text of ``path`` or of standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from None


# --- progress -----------------------------------------------------------------------------
class _AboveBar:
    """A file for loggers while a progress bar shows: each line printed above the bar."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self.console.print(Text(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.console.print(Text(self._partial), soft_wrap=True)
            self._partial = ""

    def isatty(self) -> bool:
        return self.console.is_terminal


@contextmanager
def progress(label: str, total: int, *, transient: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` steps; yields ``advance(n)``.

    While it shows, structlog and stdlib log lines are printed above the bar instead of
    being glued onto it.
    """
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    )
    task = bar.add_task(label, total=total)
    # A file-like object is all the loggers need; typing.TextIO asks for far more.
    above = cast(TextIO, _AboveBar(err))
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(above) for h in handlers]
    factory = structlog.get_config()["logger_factory"]
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(above))

    def advance(n: int = 1) -> None:
        bar.advance(task, n)

    try:
        with bar:
            yield advance
    finally:
        above.flush()
        structlog.configure(logger_factory=factory)
        for handler, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)
