"""Channel and route config: validation with dotted paths, and routing articles to channels."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from pydantic import ValidationError

from syndication.config.channels import (
    ChannelConfig,
    QuietHours,
    RoutingConfig,
    ScheduleConfig,
    config_errors,
    language_matches,
    validate_references,
)
from syndication.config.check import check_config
from syndication.events import Article
from syndication.posts.routing import is_too_old, route_article
from syndication.posts.templating import DEFAULT_TEMPLATE
from tests.strategies import articles


def schedule_of(**fields: object) -> ScheduleConfig:
    """A schedule from config-style values (durations as text or seconds, "HH:MM" times)."""
    return ScheduleConfig.model_validate(fields)


def quiet_of(**fields: object) -> QuietHours:
    """Quiet hours from "HH:MM" strings."""
    return QuietHours.model_validate(fields)


def article(**overrides: object) -> Article:
    raw: dict[str, object] = {
        "id": "nd-903123-vi",
        "url": "https://portal.example/vi/thoi-su/903123",
        "language": "vi",
        "title": "Chuyển đổi số quốc gia",
        "category": "thoi-su",
        "tags": ["Chuyển đổi số", "kinh tế"],
        "published_at": "2025-08-24T08:00:00+07:00",
    }
    raw.update(overrides)
    return Article.model_validate(raw)


CHANNELS = [
    {"name": "x-vi", "platform": "x", "language": "vi"},
    {"name": "mastodon-vi", "platform": "mastodon", "language": "vi"},
    {"name": "x-en", "platform": "x", "language": "en-GB"},
    {"name": "telegram-ja", "platform": "telegram", "language": "ja"},
]


def channels() -> list[ChannelConfig]:
    return [ChannelConfig.model_validate(c) for c in CHANNELS]


def errors_of(raw: object, folder: Path) -> list[str]:
    """What ``config check`` says of ``raw`` written as config/channels.yaml (lines left out)."""
    (folder / "channels.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    report = check_config(folder)
    assert report.problems, "the config was expected to be refused"
    return [f"config/channels.yaml: {p.path}: {p.message}" for p in report.problems]


def test_a_minimal_channel_gets_sensible_defaults() -> None:
    """A channel needs only a name, platform and language; template and schedule default."""
    channel = ChannelConfig(name="x-vi", platform="x", language="vi")
    assert channel.template == DEFAULT_TEMPLATE
    assert channel.schedule.timezone == "UTC"
    assert channel.max_age == timedelta(days=2)
    assert not channel.delete_on_unpublish


def test_durations_accept_seconds_and_units() -> None:
    """Durations read as seconds or as 15m, 2h30m, 1d."""
    schedule = schedule_of(delay_after_publish="2h30m", min_spacing=90)
    assert schedule.delay_after_publish == timedelta(hours=2, minutes=30)
    assert schedule.min_spacing == timedelta(seconds=90)
    assert ChannelConfig.model_validate(
        {"name": "a", "platform": "x", "language": "en", "max_age": "1d"}
    ).max_age == timedelta(days=1)


def test_quiet_hours_may_cross_midnight() -> None:
    """23:00 to 06:30 is a valid window that covers midnight, not an 'end before start' error."""
    quiet = quiet_of(start="23:00", end="06:30")
    assert quiet.contains(time(23, 0)) and quiet.contains(time(2, 0))
    assert not quiet.contains(time(6, 30)) and not quiet.contains(time(12, 0))


def test_errors_name_the_dotted_path(tmp_path: Path) -> None:
    """Bad times, zones, platforms and fields are reported with their full path and file."""
    raw = {
        "channels": [
            {"name": "x-vi", "platform": "x", "language": "vi"},
            {"name": "m-vi", "platform": "mastodon", "language": "vi"},
            {
                "name": "bad",
                "platform": "myspace",
                "language": "vi",
                "colour": "red",
                "schedule": {
                    "timezone": "Europe/Berln",
                    "quiet_hours": {"start": "24:00", "end": "06:30"},
                },
            },
        ]
    }
    errors = errors_of(raw, tmp_path)
    assert (
        "config/channels.yaml: channels[2].platform: expected 'x', 'mastodon', 'facebook', "
        "'telegram', 'bluesky', 'linkedin' or 'threads'" in errors
    )
    assert "config/channels.yaml: channels[2].colour: unknown field" in errors
    assert any(
        e.startswith(
            "config/channels.yaml: channels[2].schedule.timezone: unknown time zone 'Europe/Berln'"
        )
        for e in errors
    )
    assert any(
        e.startswith(
            "config/channels.yaml: channels[2].schedule.quiet_hours.start: not a time of day"
        )
        for e in errors
    )


def test_an_unquoted_yaml_time_is_explained() -> None:
    """PyYAML reads 23:00 as 1380; the error says to quote it."""
    with pytest.raises(ValidationError) as info:
        QuietHours.model_validate({"start": 1380, "end": "06:30"})
    assert "quoted" in str(config_errors(info.value)[0])


def test_credentials_name_environment_variables_never_secrets() -> None:
    """A credential value that is not an environment variable name is refused without echoing it."""
    with pytest.raises(ValidationError) as info:
        ChannelConfig(
            name="x", platform="x", language="en", credentials={"access_token": "sk-live-123 abc"}
        )
    message = "; ".join(str(e) for e in config_errors(info.value))
    assert "credentials: access_token: must name an environment variable" in message
    assert "sk-live" not in message
    ok = ChannelConfig(
        name="x", platform="x", language="en", credentials={"access_token": "X_TOKEN_EN"}
    )
    assert ok.credentials == {"access_token": "X_TOKEN_EN"}


def test_a_template_syntax_error_names_the_channel_field(tmp_path: Path) -> None:
    """A broken template is a config error at channels[i].template with the line."""
    errors = errors_of(
        {"channels": [{"name": "x", "platform": "x", "language": "en", "template": "{{ title }"}]},
        tmp_path,
    )
    assert errors == ["config/channels.yaml: channels[0].template: line 1: unexpected '}'"]


def test_slots_inside_quiet_hours_are_refused() -> None:
    """A slot that quiet hours would always skip is a config mistake."""
    with pytest.raises(ValidationError, match="23:30 fall in quiet_hours"):
        schedule_of(slots=["23:30"], quiet_hours={"start": "23:00", "end": "06:30"})


def test_api_base_url_must_be_http_without_credentials() -> None:
    """The API base URL is an absolute http(s) URL without user:password."""
    assert (
        ChannelConfig(
            name="m", platform="mastodon", language="en", api_base_url="http://127.0.0.1:8080/"
        ).api_base_url
        == "http://127.0.0.1:8080"
    )
    with pytest.raises(ValidationError, match="credentials"):
        ChannelConfig(
            name="m", platform="mastodon", language="en", api_base_url="https://u:p@example.org"
        )


def test_references_report_duplicates_unknown_channels_and_unreachable_languages(
    tmp_path: Path,
) -> None:
    """Cross-checks give a dotted path for each problem."""
    raw = {
        "channels": [*CHANNELS, {"name": "x-vi", "platform": "x", "language": "vi"}],
        "routing": {
            "routes": [
                {"match": {"languages": ["vi"]}, "channels": ["x-vi", "nope", "telegram-ja"]},
            ]
        },
    }
    assert errors_of(raw, tmp_path) == [
        "config/channels.yaml: channels[4].name: duplicate channel name 'x-vi' (also channels[0])",
        "config/channels.yaml: routing.routes[0].channels[1]: unknown channel 'nope'",
        "config/channels.yaml: routing.routes[0].channels[2]: channel 'telegram-ja' posts in ja, "
        "which this route's languages (vi) never match",
    ]


def test_routes_match_by_category_tag_slug_and_exclude_tags() -> None:
    """Tags compare as slugs, so a Vietnamese tag matches its ASCII slug; excluded tags veto."""
    routing = RoutingConfig.model_validate(
        {
            "routes": [
                {
                    "match": {"categories": ["Thời sự"], "exclude_tags": ["quảng cáo"]},
                    "channels": ["x-vi"],
                },
                {"match": {"tags": ["chuyen-doi-so"]}, "channels": ["mastodon-vi"]},
            ]
        }
    )
    assert route_article(article(), routing, channels()) == ("x-vi", "mastodon-vi")
    advert = article(tags=["Quảng cáo", "chuyển đổi số"])
    assert route_article(advert, routing, channels()) == ("mastodon-vi",)


def test_first_mode_and_stop_end_evaluation() -> None:
    """In first mode only the first matching route applies; in all mode stop ends the walk."""
    routes = [
        {"match": {"categories": ["thoi-su"]}, "channels": ["x-vi"]},
        {"match": {}, "channels": ["mastodon-vi"]},
    ]
    first = RoutingConfig.model_validate({"mode": "first", "routes": routes})
    assert route_article(article(), first, channels()) == ("x-vi",)
    every = RoutingConfig.model_validate({"mode": "all", "routes": routes})
    assert route_article(article(), every, channels()) == ("x-vi", "mastodon-vi")
    stopping = RoutingConfig.model_validate(
        {"mode": "all", "routes": [{**routes[0], "stop": True}, routes[1]]}
    )
    assert route_article(article(), stopping, channels()) == ("x-vi",)


def test_only_channels_in_the_article_language_are_chosen() -> None:
    """An en-US article reaches the en-GB channel (same primary subtag) but not the vi ones."""
    routing = RoutingConfig.model_validate(
        {"routes": [{"channels": ["x-vi", "x-en", "telegram-ja"]}]}
    )
    english = article(language="en-US", id="nd-903123-en", translation_of="nd-903123-vi")
    assert route_article(english, routing, channels()) == ("x-en",)


def test_route_languages_use_rfc4647_filtering() -> None:
    """A route for zh covers zh-Hant; a route for zh-Hant does not cover zh-Hans."""
    assert language_matches("zh", "zh-Hant")
    assert language_matches("zh-Hant", "zh-Hant-TW")
    assert not language_matches("zh-Hant", "zh-Hans")


def test_max_age_skips_stale_articles() -> None:
    """An article older than the channel's max_age at plan time is too old to post."""
    channel = ChannelConfig.model_validate(
        {"name": "x", "platform": "x", "language": "vi", "max_age": "2d"}
    )
    published = datetime(2025, 8, 24, 1, 0, tzinfo=UTC)
    assert not is_too_old(channel, article(), published + timedelta(days=1))
    assert is_too_old(channel, article(), published + timedelta(days=3))


@settings(max_examples=60, deadline=None)
@given(item=articles())
def test_routing_never_crosses_languages_or_repeats(item: Article) -> None:
    """Whatever the article, chosen channels share its primary language and appear once."""
    routing = RoutingConfig.model_validate(
        {"routes": [{"channels": [c["name"] for c in CHANNELS] * 2}]}
    )
    chosen = route_article(item, routing, channels())
    assert len(chosen) == len(set(chosen))
    by_name = {c.name: c for c in channels()}
    assert all(
        by_name[n].language.split("-")[0] == item.language.split("-")[0].lower() for n in chosen
    )
    assert validate_references(channels(), routing) == []
