"""``syndication articles``: what the store holds."""

from __future__ import annotations

import click

from syndication.cli._context import (
    CliContext,
    pass_ctx,
    print_json,
    print_table,
    table_options,
)


@click.group()
def articles() -> None:
    """Inspect stored articles."""


@articles.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@table_options
@pass_ctx
def list_(ctx: CliContext, limit: int, as_json: bool) -> None:
    """List live articles, newest first."""
    ids = ctx.reader.list_article_ids(limit=limit)
    found = [a for a in ctx.reader.get_articles(ids) if a is not None]
    if as_json:
        print_json(
            {
                "articles": [a.model_dump(mode="json", exclude={"content_html"}) for a in found],
                "total": ctx.reader.count_articles(),
            }
        )
        return
    print_table(
        "Articles",
        ["id", "lang", "category", "published", "title", "translation of"],
        [
            [
                a.id,
                a.language,
                a.category,
                ctx.when(a.published_at.timestamp()),
                a.title,
                a.translation_of,
            ]
            for a in found
        ],
    )


@articles.command()
@click.argument("article_id")
@pass_ctx
def show(ctx: CliContext, article_id: str) -> None:
    """Print one article as JSON, with its state and feeds."""
    store = ctx.reader
    article = store.get_article(article_id)
    state = store.article_state(article_id)
    if article is None and state is None:
        raise click.ClickException(f"no article {article_id!r}")
    print_json(
        {
            "article": article.model_dump(mode="json") if article else None,
            "state": state.state if state else None,
            "feeds": sorted(state.feeds) if state else [],
            "translations": store.translations(article.story_id) if article else [],
        }
    )
