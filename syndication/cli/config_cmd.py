"""``syndication config check``: every problem of config/*.yaml at once, templates tried."""

from __future__ import annotations

import click

from syndication.cli._context import CliContext, err, pass_ctx, print_json, print_table
from syndication.config.check import check_config


@click.group("config")
def config_group() -> None:
    """The YAML configuration."""


@config_group.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_ctx
def check(ctx: CliContext, as_json: bool) -> None:
    """Validate the config folder: every problem with file, line and dotted path.

    Each channel's template is compiled and rendered for a sample article in the channel's
    language, then fitted to its platform; the fitted length is shown. Exits 1 on any
    problem (and on a template that does not render).
    """
    from syndication.posts.trial import try_template

    folder = ctx.settings.config_path
    report = check_config(folder)
    config, problems = report.config, report.problems
    trials = [try_template(c) for c in report.channels]
    failed = [t for t in trials if t.error]
    problems = tuple(
        sorted(
            [*problems, *(report.template_problem(t.channel, t.error or "") for t in failed)],
            key=lambda p: (p.file, p.line or 0, p.path),
        )
    )
    if as_json:
        print_json(
            {
                "config": str(folder),
                "ok": not problems,
                "problems": [
                    {"file": p.file, "line": p.line, "path": p.path, "message": p.message}
                    for p in problems
                ],
                "templates": [t.__dict__ for t in trials],
            }
        )
    else:
        for problem in problems:
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        if trials:
            print_table(
                "Templates on a sample article",
                ["channel", "platform", "lang", "length", "limit", "cut", "problem"],
                [
                    [
                        t.channel,
                        t.platform,
                        t.language,
                        t.length if not t.error else "",
                        t.limit,
                        "yes" if t.truncated else "",
                        "does not render" if t.error else "",
                    ]
                    for t in trials
                ],
                numeric=("length", "limit"),
            )
        if config is not None and not failed:
            langs = ", ".join(sorted(config.feeds.languages)) or "every language seen"
            search = config.search
            sitemaps = "news sitemaps " + ("on" if search.sitemaps.enabled else "off")
            indexnow = f"IndexNow for {search.indexnow.host}" if search.indexnow else "IndexNow off"
            err.print(
                f"{folder}: ok: feeds for {langs}; {len(config.channels)} channel(s), "
                f"{len(config.routing.routes)} route(s); {sitemaps}; {indexnow}",
                markup=False,
                highlight=False,
            )
        elif problems:
            err.print(f"{folder}: {len(problems)} problem(s)", markup=False, highlight=False)
    if problems:
        raise SystemExit(1)
