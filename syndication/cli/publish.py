"""``syndication publish PATH|-``: send events to the workers from a file or a pipe."""

from __future__ import annotations

import json
import time

import click

from syndication.cli._context import CliContext, err, pass_ctx, print_json, print_table, read_path
from syndication.errors import EventValidationError, FieldError
from syndication.events import parse_event
from syndication.publishing import queue_event


def split_documents(text: str) -> list[object]:
    """A JSON object, a JSON array, or JSON Lines, as a list of decoded values.

    A JSON Lines line that is not JSON is kept as its raw text so that it is rejected with
    a message (and dead-lettered) rather than lost.
    """
    stripped = text.strip()
    if not stripped:
        return []
    try:
        doc = json.loads(stripped)
    except ValueError:
        items: list[object] = []
        for line in stripped.splitlines():
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError:
                    items.append(line)
        return items
    return list(doc) if isinstance(doc, list) else [doc]


def _messages(row: dict[str, object]) -> list[str]:
    """A result row's errors, or else its warnings (both lists of messages)."""
    notes = row.get("errors") or row.get("warnings")
    return [str(n) for n in notes] if isinstance(notes, list) else []


def wait_for(ctx: CliContext, event_ids: list[str], timeout: float) -> dict[str, str | None]:
    """Poll until every event has an outcome recorded by a worker, or the timeout passes."""
    deadline = time.monotonic() + timeout
    states: dict[str, str | None] = dict.fromkeys(event_ids)
    with err.status(f"waiting for {len(event_ids)} event(s) to be applied..."):
        while True:
            pending = [e for e, s in states.items() if s is None]
            if not pending:
                break
            states.update(zip(pending, ctx.store.event_states(pending), strict=True))
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    return states


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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def publish(
    ctx: CliContext, path: str, wait: bool, timeout: float, via: str, as_json: bool
) -> None:
    """Validate and publish events from PATH (a JSON object, array or JSON Lines; - for stdin).

    Exits 0 when every event was accepted, 1 when any was rejected.
    """
    items = split_documents(read_path(path))
    results: list[dict[str, object]] = []
    accepted: list[str] = []
    for index, item in enumerate(items):
        raw = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        try:
            if isinstance(item, str):
                raise EventValidationError([FieldError("event", "not valid JSON")])
            parsed = parse_event(item, ctx.settings.limits)
        except EventValidationError as exc:
            event_id = item.get("id") if isinstance(item, dict) else None
            event_id = event_id if isinstance(event_id, str) else None
            dl = ctx.store.add_dead_letter(
                raw, exc.errors, source=f"cli:{path}#{index + 1}", event_id=event_id
            )
            results.append(
                {
                    "index": index + 1,
                    "status": "rejected",
                    "event_id": event_id,
                    "errors": [str(e) for e in exc.errors],
                    "dead_letter": dl,
                }
            )
            continue
        body = parsed.to_json()
        if via == "inbox":
            queue_event(ctx.store, body)
        else:
            ctx.app.send_task("syndication.ingest", (body,), kwargs={"source": f"cli:{path}"})
        accepted.append(parsed.event.id)
        results.append(
            {
                "index": index + 1,
                "status": "queued",
                "event_id": parsed.event.id,
                "article_id": parsed.event.article.id,
                "type": parsed.event.type,
                "warnings": list(parsed.warnings),
            }
        )
    if accepted and via == "inbox":
        ctx.app.send_task("syndication.drain_inbox")  # sooner than beat's next tick
    if wait and accepted:
        states = wait_for(ctx, accepted, timeout)
        for row in results:
            if row["status"] == "queued":
                row["status"] = states.get(str(row["event_id"])) or "timeout"
    rejected = sum(1 for r in results if r["status"] in ("rejected", "timeout"))
    if as_json:
        print_json({"events": results, "accepted": len(accepted), "rejected": rejected})
    else:
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
                    "; ".join(_messages(r)),
                ]
                for r in results
            ],
        )
        err.print(f"{len(accepted)} accepted, {rejected} rejected")
    if rejected:
        raise SystemExit(1)
