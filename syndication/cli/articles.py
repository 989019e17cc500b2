"""``syndication articles``: what the store holds."""

from __future__ import annotations

import click

from syndication.cli._context import CliContext, pass_ctx, print_json, print_table


@click.group()
def articles() -> None:
    """Inspect stored articles."""


@articles.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def list_(ctx: CliContext, limit: int, as_json: bool) -> None:
    """List live articles, newest first."""
    ids = ctx.store.list_article_ids(limit=limit)
    found = [a for a in ctx.store.get_articles(ids) if a is not None]
    if as_json:
        print_json(
            {
                "articles": [a.model_dump(mode="json", exclude={"content_html"}) for a in found],
                "total": ctx.store.count_articles(),
            }
        )
        return
    print_table(
        "Articles",
        ["id", "lang", "category", "published", "title", "translation of"],
        [
            [a.id, a.language, a.category, a.published_at.isoformat(), a.title, a.translation_of]
            for a in found
        ],
    )


@articles.command()
@click.argument("article_id")
@pass_ctx
def show(ctx: CliContext, article_id: str) -> None:
    """Print one article as JSON, with its state and feeds."""
    article = ctx.store.get_article(article_id)
    state = ctx.store.article_state(article_id)
    if article is None and state is None:
        raise click.ClickException(f"no article {article_id!r}")
    print_json(
        {
            "article": article.model_dump(mode="json") if article else None,
            "state": state.state if state else None,
            "feeds": sorted(state.feeds) if state else [],
            "translations": ctx.store.translations(article.story_id) if article else [],
        }
    )
