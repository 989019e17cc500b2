"""Render time of 50- and 200-item feeds: fragment assembly against feedgen alone.

Run: ``python benchmarks/bench_render.py``. The fragment renderer is measured in its steady
state (a warm fragment cache, one new article per render: what a publish costs); the
baseline builds the same feed with feedgen from scratch, as a renderer without fragments
would. Both run here, on the same articles, so the ratio does not depend on the machine.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedgen.feed import FeedGenerator

from feeds.catalog import FeedFormat, FeedRef, FeedsConfig, feed_title
from feeds.render import FeedItem, render_feed
from syndication.events import Article

CONFIG = FeedsConfig(base_url="https://portal.example", site_name="Portal")
REF = FeedRef("vi", "all")
START = datetime(2025, 8, 24, 8, 0, tzinfo=UTC)


def make_item(n: int) -> FeedItem:
    """A realistic article: a few paragraphs, two authors, tags, a lead image."""
    body = "".join(
        f"<p>Đoạn {i} của bài {n}: Hội An và Đà Nẵng đón du khách &amp; 観光客.</p>"
        for i in range(8)
    )
    article = Article.model_validate(
        {
            "id": f"a-{n}",
            "url": f"https://portal.example/vi/bai-{n}",
            "language": "vi",
            "title": f"Bài số {n}: Di sản văn hóa Việt Nam",
            "summary": f"Tóm tắt bài {n}.",
            "content_html": body,
            "category": "heritage",
            "tags": ["du-lich", "van-hoa"],
            "authors": [{"name": "Nguyễn Văn Đức"}, {"name": "Trần Thị Mai"}],
            "source": {"name": "Báo Nhân dân", "url": f"https://nhandan.example/{n}"},
            "image": {
                "url": f"https://portal.example/img/{n}.jpg",
                "caption": "Phố cổ Hội An",
                "credit": "TTXVN",
                "type": "image/jpeg",
                "width": 1200,
                "height": 800,
            },
            "published_at": (START + timedelta(minutes=n)).isoformat(),
        }
    )
    return FeedItem(article, (("en", f"https://portal.example/en/story-{n}"),))


def feedgen_alone(items: list[FeedItem], fmt: str) -> bytes:
    """The baseline: the same feed built with feedgen from scratch, as most code does."""
    fg = FeedGenerator()
    fg.load_extension("media")
    fg.load_extension("dc")
    fg.id(REF.url("atom", CONFIG))
    fg.title(feed_title(REF, CONFIG))
    fg.description(feed_title(REF, CONFIG))
    fg.language("vi")
    fg.author({"name": CONFIG.site_name})
    fg.link(href=REF.url("rss", CONFIG), rel="self")
    fg.link(href=CONFIG.base_url + "/", rel="alternate")
    for item in reversed(items):
        a = item.article
        fe = fg.add_entry()
        fe.guid(a.url, permalink=True)
        fe.title(a.title)
        fe.link(href=a.url)
        fe.published(a.published_at)
        fe.updated(a.version)
        for author in a.authors:
            fe.author({"name": author.name})
            fe.dc.dc_creator(author.name)
        fe.category([{"term": t} for t in (a.category, *a.tags)])
        fe.content(a.content_html, type="html")
        fe.summary(a.summary)
        if a.image:
            fe.enclosure(a.image.url, "0", a.image.type or "image/jpeg")
            fe.media.content({"url": a.image.url, "medium": "image"})
        if a.source and a.source.url:
            fe.source(url=a.source.url, title=a.source.name)
    if fmt == "rss":
        out: bytes = fg.rss_str()
    else:
        out = fg.atom_str()
    return out


def timeit(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs (after one warm-up)."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def steady_state(
    fmt: FeedFormat, pool: list[FeedItem], config: FeedsConfig, now: datetime, repeat: int
) -> float:
    """Median render time with a warm cache and one new article per render."""
    cache: dict[str, bytes] = {}
    size = config.max_items
    newest = size - 1

    def render() -> None:
        nonlocal newest
        newest += 1  # one new article arrives; the other size-1 come from the cache
        items = [pool[(newest - k) % len(pool)] for k in range(size)]
        render_feed(REF, fmt, items, config, now, fragment_cache=cache)

    render()  # fill the cache with the first window
    return timeit(render, repeat)


def main() -> None:
    """Print the table."""
    now = START + timedelta(days=1)
    print(f"{'feed':<14}{'fragments ms':>14}{'feedgen ms':>12}{'ratio':>8}")
    formats: tuple[FeedFormat, ...] = ("rss", "atom", "json")
    for size in (50, 200):
        config = CONFIG.model_copy(update={"max_items": size})
        pool = [make_item(n) for n in range(size + 400)]
        base_items = pool[:size]
        for fmt in formats:
            ours = steady_state(fmt, pool, config, now, repeat=30 if size == 50 else 15)
            # feedgen has no JSON Feed; its Atom time stands in as the baseline there.
            base_fmt = "atom" if fmt == "json" else fmt
            base = timeit(functools.partial(feedgen_alone, base_items, base_fmt), repeat=10)
            label = "(vs feedgen atom)" if fmt == "json" else ""
            print(
                f"{fmt + ' ' + str(size):<14}{ours * 1000:>14.2f}{base * 1000:>12.2f}"
                f"{ours / base:>8.2f} {label}"
            )
    print("ratio = fragments / feedgen alone (lower is better; aim <= 0.5)")


if __name__ == "__main__":
    main()
