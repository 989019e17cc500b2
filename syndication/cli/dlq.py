"""``syndication dlq``: list, show, replay and drop dead letters."""

from __future__ import annotations

import json

import click

from syndication.cli._context import (
    CliContext,
    err,
    pass_ctx,
    print_json,
    print_table,
    progress,
    table_options,
    tz_option,
)
from syndication.decoding import decode_json, escape_surrogates, is_plain, printable
from syndication.errors import EventValidationError, StoreError
from syndication.publishing import Publisher
from syndication.store import DeadLetter


def _doc(ctx: CliContext, dl: DeadLetter) -> dict[str, object]:
    return {
        "id": dl.id,
        "at": ctx.when(dl.at),
        "source": dl.source,
        "event_id": dl.event_id,
        "errors": list(dl.errors),
        "replays": dl.replays,
        "raw": dl.raw,
        "note": dl.note,
    }


def _pretty(raw: str) -> str:
    """The raw payload indented when it is plain JSON, else as kept (controls escaped)."""
    try:
        value = decode_json(raw)
    except EventValidationError:
        value = None
    else:
        if is_plain(value) and isinstance(value, dict | list):
            return escape_surrogates(json.dumps(value, ensure_ascii=False, indent=2))
    return printable(raw, keep_lines=True)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@click.group()
def dlq() -> None:
    """Inspect and replay rejected events (dead letters)."""


@dlq.command("list")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def list_(ctx: CliContext, limit: int, as_json: bool) -> None:
    """List dead letters, oldest first."""
    store = ctx.reader
    letters = store.dead_letters(limit=limit)
    if as_json:
        print_json(
            {"dead_letters": [_doc(ctx, d) for d in letters], "total": store.count_dead_letters()}
        )
        return
    print_table(
        "Dead letters",
        ["id", "at", "source", "event", "first error", "replays"],
        [
            [d.id, ctx.when(d.at), d.source, d.event_id, d.errors[0] if d.errors else "", d.replays]
            for d in letters
        ],
    )


@dlq.command()
@click.argument("dl_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@tz_option
@pass_ctx
def show(ctx: CliContext, dl_id: str, as_json: bool) -> None:
    """Show one dead letter with its errors and raw payload."""
    try:
        dl = ctx.reader.dead_letter(dl_id)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        print_json(_doc(ctx, dl))
        return
    click.echo(
        f"id:       {dl.id}\nat:       {ctx.when(dl.at)}\nsource:   {printable(dl.source)}\n"
        f"event:    {dl.event_id or '-'}\nreplays:  {dl.replays}\nerrors:"
    )
    for e in dl.errors:
        click.echo(f"  - {printable(e)}")
    click.echo(f"raw ({dl.note}):" if dl.note else "raw:")
    click.echo(_pretty(dl.raw))


@dlq.command()
@click.argument("dl_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def replay(ctx: CliContext, dl_id: str | None, replay_all: bool, as_json: bool) -> None:
    """Validate dead letters again and send the valid ones to the workers.

    A replayed letter that is now valid is queued and removed; one still invalid stays,
    with its new errors shown. Exits 1 when any stayed invalid.
    """
    if bool(dl_id) == replay_all:
        raise click.UsageError("give one dead-letter ID or --all")
    try:
        letters = (
            ctx.store.dead_letters(limit=1_000_000)
            if replay_all
            else [ctx.store.dead_letter(dl_id or "")]
        )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if not letters:
        err.print("No dead letters to replay.")
        return
    publisher = Publisher(
        ctx.store,
        ctx.settings.limits,
        nudge=ctx.nudge_drain,
        retry_for=0,
    )
    results: list[dict[str, object]] = []
    with progress("replaying", len(letters), transient=as_json) as advance:
        for dl in letters:
            advance(1)
            ctx.store.count_replay(dl.id)
            # Still invalid: the letter stays as it is (keep=False), with the new errors shown.
            done = publisher.publish(dl.raw, source=f"replay:{dl.id}", keep=False)
            if done.status == "queued":
                ctx.store.drop_dead_letter(dl.id)
                results.append({"id": dl.id, "status": "queued", "event_id": done.event_id})
            elif done.status == "rejected":
                errors = [str(e) for e in done.errors]
                results.append({"id": dl.id, "status": "invalid", "errors": errors})
            else:
                raise click.ClickException(done.reason or "redis: unreachable")
    invalid = sum(1 for r in results if r["status"] == "invalid")
    if len(results) > invalid:
        publisher.nudge()  # sooner than beat's next tick
    if as_json:
        print_json({"replayed": results, "queued": len(results) - invalid, "invalid": invalid})
    else:
        print_table(
            "Replayed",
            ["dead letter", "status", "event / errors"],
            [
                [r["id"], r["status"], r.get("event_id") or "; ".join(_strings(r.get("errors")))]
                for r in results
            ],
        )
    if invalid:
        raise SystemExit(1)


@dlq.command()
@click.argument("dl_id")
@pass_ctx
def drop(ctx: CliContext, dl_id: str) -> None:
    """Delete one dead letter for good."""
    if not ctx.store.drop_dead_letter(dl_id):
        raise click.ClickException(f"no dead letter {dl_id!r}")
    err.print(f"dropped {dl_id}", markup=False)
