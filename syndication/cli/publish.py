"""``syndication publish PATH|-``: send events to the workers from a file or a pipe."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import redis

from syndication.cli._context import (
    CliContext,
    err,
    is_terminal,
    pass_ctx,
    print_json,
    print_table,
    progress,
    table_options,
)
from syndication.decoding import array_items, decode_json, text_of
from syndication.errors import EventValidationError, StoreUnavailable
from syndication.publishing import DEFAULT_RETRY_FOR, Append, Publication, Publisher

# Past this many events a terminal shows a progress bar, and the table only the events that
# were not simply queued (every row is still in --json, and piped output has them all).
LARGE = 100

# Exit status when Redis stayed unreachable (or refused): some events were not queued or kept.
EXIT_UNREACHABLE = 3
_BOM = b"\xef\xbb\xbf"


def _lines(data: str | bytes) -> list[str | bytes]:
    """Non-blank lines; a line that is not UTF-8 stays bytes (it is rejected as such)."""
    items: list[str | bytes] = []
    # Only "\n" ends a line: JSON text may hold U+2028 and other breaks splitlines() knows.
    lines: list[str | bytes] = [*(data.split("\n") if isinstance(data, str) else data.split(b"\n"))]
    for line in lines:
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                if line.strip():
                    items.append(line.rstrip(b"\r"))
                continue
        else:
            text = line
        if text.strip():
            items.append(text.rstrip("\r"))
    return items


def split_documents(data: bytes) -> list[str | bytes]:
    """The source text of each event in ``data``: a JSON object, the elements of a JSON
    array, or JSON Lines (a leading byte order mark is ignored).

    Items are kept exactly as written, so a rejected one is kept as it was sent; a line
    that is not JSON (or not UTF-8) is an item of its own and is rejected with the reason.
    Empty input is one empty item (rejected: there was no event in it).
    """
    data = data.removeprefix(_BOM)
    try:
        text = text_of(data)
    except EventValidationError:
        return _lines(data)
    stripped = text.strip()
    if not stripped:
        return [text]
    items = array_items(stripped)
    if items is not None:
        return list(items)
    if not stripped.startswith("["):
        try:
            decode_json(stripped)
        except EventValidationError:
            pass
        else:
            return [stripped]
    return _lines(text)


def read_input(path: str) -> bytes:
    """The bytes of ``path``, or of standard input for ``-`` (decoded later, per event)."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from None


def wait_for(ctx: CliContext, event_ids: list[str], timeout: float) -> dict[str, str | None]:
    """Poll until every event has an outcome recorded by a worker, or the timeout passes."""
    deadline = time.monotonic() + timeout
    states: dict[str, str | None] = dict.fromkeys(event_ids)
    with err.status(f"waiting for {len(event_ids)} event(s) to be applied..."):
        while True:
            pending = [e for e, s in states.items() if s is None]
            if not pending:
                break
            try:
                states.update(zip(pending, ctx.store.event_states(pending), strict=True))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                err.print(f"stopped waiting: redis unreachable ({type(exc).__name__})")
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    return states


def _celery_append(ctx: CliContext, source: str) -> Append:
    """Send one ``ingest`` task per event instead of appending to the inbox."""
    from kombu.exceptions import OperationalError

    from workers.handles import INGEST

    def append(body: dict[str, Any]) -> object:
        try:
            INGEST.send(ctx.app, body, source)
            return None
        except OperationalError as exc:
            raise StoreUnavailable(f"broker: unreachable ({type(exc).__name__})") from None

    return append


def _row(index: int, publication: Publication) -> dict[str, object]:
    return {"index": index, **publication.to_json()}


def _notes(row: dict[str, object]) -> str:
    """A result row's errors, else its reason, else its warnings, as one cell."""
    for name in ("errors", "reason", "warnings"):
        value = row.get(name)
        if value:
            return "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return ""


@click.command()
@click.argument("path")
@click.option("--wait", is_flag=True, help="Block until the worker has applied every event.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds --wait waits at most.")
@click.option(
    "--via",
    type=click.Choice(["celery", "inbox"]),
    default="inbox",
    show_default=True,
    help="Send as ingest tasks, or append to the inbox stream.",
)
@click.option(
    "--retry-for",
    type=click.FloatRange(min=0),
    default=DEFAULT_RETRY_FOR,
    show_default=True,
    envvar="SYNDICATION_PUBLISH_RETRY_FOR",
    show_envvar=True,
    help="Seconds to keep retrying while Redis is unreachable before giving up.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def publish(
    ctx: CliContext,
    path: str,
    wait: bool,
    timeout: float,
    via: str,
    retry_for: float,
    as_json: bool,
) -> None:
    """Validate and publish events from PATH (a JSON object, array or JSON Lines; - for stdin).

    Exit status: 0 every event was queued; 1 some were rejected (each kept as a dead
    letter) or, with --wait, not applied in time; 3 Redis stayed unreachable for
    --retry-for seconds (or refused the writes): the events marked not-queued were not
    queued, and rejected ones with a reason were not kept (publish them again).
    """
    items = split_documents(read_input(path))
    source = f"cli:{path}"
    publisher = Publisher(
        ctx.store,
        ctx.settings.limits,
        append=_celery_append(ctx, source) if via == "celery" else None,
        nudge=ctx.nudge_drain if via == "inbox" else None,
        retry_for=retry_for,
    )
    budget = publisher.budget()
    done = []
    with progress("publishing", len(items), transient=True) as advance:
        for i, item in enumerate(items):
            done.append(publisher.publish(item, source=f"{source}#{i + 1}", budget=budget))
            advance(1)
    accepted = [p.event_id for p in done if p.status == "queued" and p.event_id]
    if accepted:
        publisher.nudge()  # sooner than beat's next tick
    results = [_row(i + 1, p) for i, p in enumerate(done)]
    if wait and accepted:
        states = wait_for(ctx, accepted, timeout)
        for row in results:
            if row["status"] == "queued":
                row["status"] = states.get(str(row["event_id"])) or "timeout"
    rejected = sum(1 for r in results if r["status"] in ("rejected", "timeout"))
    not_queued = sum(1 for r in results if r["status"] == "not-queued")
    if as_json:
        print_json(
            {
                "events": results,
                "accepted": len(accepted),
                "rejected": rejected,
                "not_queued": not_queued,
            }
        )
    else:
        shown = results
        if len(results) > LARGE and is_terminal():
            shown = [r for r in results if r["status"] != "queued" or _notes(r)]
        print_table(
            "Events",
            ["#", "status", "event", "article", "type", "errors / warnings"],
            [
                [
                    r["index"],
                    r["status"],
                    r.get("event_id"),
                    r.get("article_id"),
                    r.get("type"),
                    _notes(r),
                ]
                for r in shown
            ],
            numeric=("#",),
        )
        if len(shown) < len(results):
            err.print(
                f"(the {len(results) - len(shown)} events queued without a note are not listed; "
                "--json lists every event)",
                markup=False,
            )
        summary = f"{len(accepted)} accepted, {rejected} rejected"
        err.print(
            summary + (f", {not_queued} not queued" if not_queued else ""),
            markup=False,
            soft_wrap=True,
        )
    # Rows Redis could not take: not queued, or rejected without their dead letter.
    untaken = [p for p in done if p.status == "not-queued" or (p.reason and not p.dead_letter)]
    if untaken:
        if not as_json:
            err.print(
                f"{untaken[0].reason}: publish the events marked not-queued again",
                markup=False,
                soft_wrap=True,
            )
        raise SystemExit(EXIT_UNREACHABLE)
    if rejected:
        raise SystemExit(1)
