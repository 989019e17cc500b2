"""``syndication story ARTICLE_ID``: every place a story reached and its state, with a verdict."""

from __future__ import annotations

import click

from syndication.cli._context import (
    CliContext,
    out,
    pass_ctx,
    print_json,
    print_table,
    table_options,
)


@click.command()
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def story(ctx: CliContext, article_id: str, as_json: bool) -> None:
    """Show every place a story reached and its state there, with a verdict.

    Feeds that list it (and when each was last rendered), WebSub pings, sitemaps, IndexNow,
    every social post (status, remote URL, edits, deletion) and every ActivityPub delivery
    (per server). After a retraction the verdict says whether it is gone everywhere. Exits 1
    when something is still pending.
    """
    from syndication.views.story import story_report

    report = story_report(ctx.reader, ctx.config, article_id)
    if as_json:
        print_json(report.to_json())
    else:
        if report.title:
            out.print(f"{report.article_id} ({report.state}): {report.title}\n{report.url}")
        print_table(
            f"Where {article_id} went",
            ["kind", "where", "state", "detail", "when"],
            [[p.kind, p.name, p.state, p.detail, ctx.when(p.at)] for p in report.places],
            wide=ctx.wide,
        )
        out.print(report.verdict)
    if report.state == "unknown" or any(not p.settled for p in report.places):
        raise SystemExit(1)
