"""The floor plan holds: import contracts, the public API, task handles, module sizes."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from celery_batches import Batches

import syndication
from syndication.settings import Settings
from workers.app import create_app
from workers.handles import HANDLES

ROOT = Path(__file__).resolve().parents[2]
# One concept per module: past this a module is split (the style guide says ~400).
MAX_LINES = 500


def test_import_contracts_hold() -> None:
    """Shells -> workers -> feeds, posts -> platforms -> core, and the core never imports
    Celery: import-linter's contracts in pyproject.toml are all kept."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_public_api_is_what_the_package_exports() -> None:
    """``syndication.__all__`` names exactly the public API, and each name exists."""
    assert sorted(syndication.__all__) == [
        "Article",
        "ArticlePublished",
        "ArticleUnpublished",
        "ArticleUpdated",
        "ConfigError",
        "EventValidationError",
        "FieldError",
        "ParsedEvent",
        "PermanentError",
        "PlatformError",
        "RateLimited",
        "Settings",
        "StoreError",
        "StoreUnavailable",
        "SyndicationError",
        "TransientError",
        "get_settings",
        "parse_event",
        "publish",
    ]
    assert all(hasattr(syndication, name) for name in syndication.__all__)


def test_every_task_has_a_typed_handle_with_its_parameters() -> None:
    """Each registered task is named by a handle on the same queue, with the same parameter
    names, so a caller cannot mistype a task or its arguments."""
    # A Redis URL that is never connected to: building the app must not start a server.
    app = create_app(Settings(prefix="architecture-test", redis_url="redis://127.0.0.1:1/0"))
    ours = {name: task for name, task in app.tasks.items() if name.startswith("syndication.")}
    assert set(ours) == {h.name for h in HANDLES}
    routes = app.conf.task_routes
    for handle in HANDLES:
        task = ours[handle.name]
        if isinstance(task, Batches):  # its messages carry what message_params names
            assert tuple(task.message_params) == handle.params, handle.name
            assert routes[handle.name]["queue"] == handle.queue
            continue
        params = list(inspect.signature(task.run).parameters)
        required = [
            p
            for p, spec in inspect.signature(task.run).parameters.items()
            if spec.default is inspect.Parameter.empty
        ]
        assert set(required) <= set(handle.params) <= set(params), handle.name
        assert routes[handle.name]["queue"] == handle.queue


def test_no_module_outgrows_one_concept() -> None:
    """Every source module stays under MAX_LINES lines."""
    too_long = {
        str(path.relative_to(ROOT)): n
        for folder in ("syndication", "workers", "feeds")
        for path in (ROOT / folder).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_the_command_table_matches_the_commands() -> None:
    """The CLI lists its commands without importing them: the table's one-line help is each
    command's own first paragraph, so ``--help`` never drifts from the commands."""
    import click

    from syndication.cli import COMMANDS, LazyGroup, cli

    assert isinstance(cli, LazyGroup)
    context = click.Context(cli)
    for name, (_, short) in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None and command.name in (name, f"{name}_group", "config")
        assert command.help is not None
        assert " ".join(command.help.split("\n\n", 1)[0].split()) == short, name


def test_the_cli_starts_without_its_heavy_dependencies() -> None:
    """``syndication --help`` imports no pydantic, redis, rich, Celery or platform client."""
    code = (
        "import sys; from syndication.cli import cli\n"
        "heavy = {'pydantic', 'redis', 'rich', 'celery', 'tweepy', 'atproto', 'mastodon',"
        " 'starlette', 'PIL', 'structlog'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
