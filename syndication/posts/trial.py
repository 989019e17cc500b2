"""A channel's template tried on a sample article: does it render, and how long is the post
once fitted to the platform? Used by ``config check`` (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from syndication.config.channels import ChannelConfig
from syndication.config.samples import sample_article
from syndication.errors import SyndicationError
from syndication.events import Article
from syndication.posts.fitting import FittingError, fit_text, measure, rules_for
from syndication.posts.templating import add_utm, render_post_text

__all__ = ["TemplateTrial", "try_template"]


@dataclass(frozen=True)
class TemplateTrial:
    """The outcome: the fitted text and its length as the platform counts it (of ``limit``),
    the rendered length before fitting, or the error that stopped it."""

    channel: str
    platform: str
    language: str
    text: str = ""
    length: int = 0
    rendered_length: int = 0
    limit: int = 0
    truncated: bool = False
    error: str | None = None


def try_template(channel: ChannelConfig, article: Article | None = None) -> TemplateTrial:
    """Render ``channel``'s template for ``article`` (a sample in the channel's language by
    default) and fit it, as the planner would (default instance limits)."""
    article = article or sample_article(channel.language)
    base = TemplateTrial(channel.name, channel.platform, channel.language)
    rules = rules_for(
        channel.platform,
        photo_caption=channel.platform == "telegram" and channel.attach_image,
    )
    try:
        text = render_post_text(
            channel.template,
            article,
            link=add_utm(article.url, channel.utm),
        )
        fitted = fit_text(text, rules)
    except (SyndicationError, FittingError) as exc:
        return replace(base, limit=rules.max_length, error=str(exc).removeprefix("template: "))
    return TemplateTrial(
        channel.name,
        channel.platform,
        channel.language,
        text=fitted.text,
        length=fitted.length,
        rendered_length=measure(text, rules),
        limit=rules.max_length,
        truncated=fitted.truncated,
    )
