"""Static export (CLI and configured folder) and WebSub pings after a render."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import feedparser
import pytest

from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.integration.test_pipeline import make_event, run_cli
from workers.app import create_app


class Hub:
    """A WebSub hub on this machine that records publish pings (and can fail the first)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.fail_first = fail_first
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                if hub.fail_first > 0:
                    hub.fail_first -= 1
                    self.send_response(503)
                else:
                    hub.pings.append(form)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hub() -> Iterator[Hub]:
    h = Hub(fail_first=1)
    yield h
    h.server.shutdown()


def test_renders_ping_the_hub_and_write_the_export_folder(
    settings: Settings, store: Store, worker_factory, hub: Hub, tmp_path: Path
) -> None:
    """With a hub and an export folder configured, a publish pings the hub (after one retry)
    for each changed document and leaves valid static copies on disk."""
    export = tmp_path / "static"
    feeds_yaml = settings.config_path / "feeds.yaml"
    text = feeds_yaml.read_text(encoding="utf-8")
    text = text.replace("  # websub_hub:", f"  websub_hub: {hub.url}\n  # was:")
    text = text.replace("  # export_dir:", f"  export_dir: {export}\n  # was:")
    feeds_yaml.write_text(text, encoding="utf-8")
    assert run_cli(settings, "config", "check").exit_code == 0

    worker_factory(settings, "-c", "1")
    create_app(settings).send_task("syndication.ingest", (make_event(1),))
    wait_until(lambda: (export / "feeds" / "vi" / "all.atom").exists(), message="export written")
    parsed = feedparser.parse((export / "feeds" / "vi" / "all.atom").read_bytes())
    assert parsed.bozo == 0 and parsed.entries[0].title == "Phố cổ Hội An"
    assert b'rel="hub"' in (export / "feeds" / "vi" / "all.atom").read_bytes()

    rss = "http://127.0.0.1:8000/feeds/vi/all.rss"

    def pinged() -> set[str]:
        return {u for ping in hub.pings for u in ping["hub.url"]}

    wait_until(lambda: rss in pinged(), timeout=60, message="hub pinged after its 503")
    urls = pinged()
    assert all(ping["hub.mode"] == ["publish"] for ping in hub.pings)
    assert "http://127.0.0.1:8000/feeds/vi/all.rss" in urls
    assert not list(export.rglob("*.tmp"))  # written by rename, no leftovers


def test_feeds_export_command_copies_every_document(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """`syndication feeds render --all` then `feeds export DIR` writes every document."""
    run_cli(settings, "publish", "-", "--via", "inbox", input=json.dumps(make_event(2)))
    from feeds.catalog import feed_indexer
    from syndication.config import load_config
    from syndication.inbox import drain_inbox
    from syndication.ingest import Ingestor

    drain_inbox(
        Ingestor(store, feed_indexer(load_config(settings.config_path).feeds), settings.limits), "t"
    )
    assert run_cli(settings, "feeds", "render", "--all").exit_code == 0
    listed = json.loads(run_cli(settings, "feeds", "list", "--json").stdout)["documents"]
    assert {d["path"] for d in listed} >= {"/feeds/vi/all.rss", "/feeds/index.opml"}
    out = tmp_path / "out"
    assert run_cli(settings, "feeds", "export", str(out)).exit_code == 0
    written = {"/" + str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert written == {d["path"] for d in listed} | {"/feed.xsl"}  # and the stylesheet
    shown = run_cli(settings, "feeds", "show", "/feeds/vi/all.json")
    assert json.loads(shown.stdout)["version"] == "https://jsonfeed.org/version/1.1"
