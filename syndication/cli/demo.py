"""``syndication demo``: the whole system on one machine, on the sample articles.

Starts (or finds) the embedded Redis, a local sandbox standing in for every platform, a
worker with beat, and the HTTP server, all in one process group; publishes the samples;
waits until the feeds are rendered and the posts are sent; prints where to look. On a
terminal it keeps running until Ctrl-C; otherwise it stops by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from syndication.publishing import Publisher
from syndication.settings import Settings
from syndication.testing.fediverse import FediverseSandbox
from syndication.testing.stage import SANDBOX_SECRETS, ImageServer, Sandboxes, channels_config

__all__ = ["run_demo"]

# The demo's own webhook secret and status token (it prints both: they guard nothing real).
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - a demo value, printed on purpose
DEMO_STATUS_TOKEN = "demo-status-token"  # noqa: S105 - likewise
# How long the demo waits for its processes to stop after SIGTERM before it kills them (an
# interrupted task is delivered again: tasks are acknowledged late and idempotent).
STOP_GRACE = 3.0


def write_secrets(folder: Path, secrets: dict[str, str]) -> dict[str, str]:
    """Write each secret to ``folder/NAME`` (mode 600); return ``{NAME_FILE: path}``.

    The adapters read ``NAME_FILE`` when ``NAME`` is unset (mounted secrets), so any shell
    that has these variables can use the channels, as ``channels check`` does.
    """
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    files = {}
    for name, value in secrets.items():
        path = folder / name
        path.write_text(value + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
        files[f"{name}_FILE"] = str(path)
    return files


def write_env_file(path: Path, variables: dict[str, str]) -> None:
    """A file a POSIX shell can source (``. data/demo.env``) to use the demo's settings."""
    lines = [
        "# Written by `syndication demo`: `. data/demo.env` in a shell gives it the demo's",
        "# prefix, config, data folder, webhook secret, status token and sandbox credentials.",
        *(f"export {name}={shlex.quote(value)}" for name, value in variables.items()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (shorter to paste)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _say(message: str) -> None:
    print(message, flush=True)


def run_demo(
    settings: Settings, *, source_config: Path, samples: Path, port: int, keep_running: bool
) -> int:
    """Run the demo; return the exit code."""
    from feeds.documents import DocumentStore
    from syndication.cli._context import CliContext
    from syndication.connection import redacted, redis_url
    from syndication.posts.ledger import Ledger, PostStatus
    from syndication.worklist import WorkList

    data = settings.data_dir.resolve()
    config_dir = data / "demo-config"
    shutil.rmtree(config_dir, ignore_errors=True)
    config_dir.mkdir(parents=True)
    for file in sorted(source_config.glob("*.yaml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        if "feeds" in doc:
            doc["feeds"]["base_url"] = f"http://127.0.0.1:{port}"
            doc["feeds"]["export_dir"] = str(data / "export")
        (config_dir / file.name).write_text(
            yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
        )

    from syndication.embedded import is_running, stop_embedded

    embedded_before = settings.redis_url is None and is_running(data)
    url = redis_url(settings)
    _say(f"Redis: {redacted(url)}{'' if settings.redis_url else ' (embedded)'}")
    sandboxes = Sandboxes()
    urls = sandboxes.start()
    images = ImageServer()
    (config_dir / "channels.yaml").write_text(
        yaml.safe_dump(channels_config(urls)), encoding="utf-8"
    )
    # Followable accounts: every Vietnamese article (@vi) and Japanese heritage (@ja-heritage);
    # a sandbox fediverse server follows @vi and shows what it receives.
    (config_dir / "federation.yaml").write_text(
        yaml.safe_dump(
            {
                "federation": {
                    "allow_private": True,
                    "actors": [{"language": "vi"}, {"language": "ja", "category": "heritage"}],
                }
            }
        ),
        encoding="utf-8",
    )
    follower = FediverseSandbox(("reader",))
    follower.start()
    _say("Platform sandboxes: " + ", ".join(f"{k} {v}" for k, v in urls.items()))

    # A prefix of the demo's own: it starts by deleting every key under it, and must never
    # touch a real deployment's keys on the same server.
    prefix = f"{settings.prefix}-demo"
    demo_settings = settings.model_copy(
        update={
            "redis_url": SecretStr(url),
            "prefix": prefix,
            "data_dir": data,
            "config_path": config_dir,
            "webhook_secret": settings.webhook_secret or SecretStr(DEMO_WEBHOOK_SECRET),
            "status_token": settings.status_token or SecretStr(DEMO_STATUS_TOKEN),
        }
    )
    # The sandbox credentials as secret files, named by NAME_FILE: the demo's processes and
    # any shell that sources data/demo.env read them the same way.
    credential_files = write_secrets(
        config_dir / "secrets", {**SANDBOX_SECRETS, "DEMO_BLUESKY_HANDLE": "news.sandbox.test"}
    )
    wanted = ("PREFIX", "DATA_DIR", "CONFIG_PATH", "WEBHOOK_SECRET", "STATUS_TOKEN")
    shell_env = {
        k: v for k, v in demo_settings.to_env().items() if k.removeprefix("SYNDICATION_") in wanted
    }
    if settings.redis_url is not None:  # else the embedded one is found from the data folder
        shell_env["REDIS_URL"] = url
    env_file = data / "demo.env"
    write_env_file(env_file, {**shell_env, **credential_files})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
        **credential_files,
        **demo_settings.to_env(),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(credential_files)
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, *args: str) -> None:
        out = (logs / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "syndication", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                # A group of its own: Ctrl-C reaches the demo alone, which then stops each
                # group (a worker and its pool processes) itself, promptly.
                start_new_session=True,
            )
        )
        _say(f"started {name} (log: {_shown(logs / (name + '.log'))})")

    ctx = CliContext(
        {"redis_url": url, "prefix": prefix, "config_path": config_dir, "data_dir": data}
    )
    code = 0
    try:
        ctx.store.delete_all()  # a demo starts from a clean slate under its own prefix
        spawn("worker", "worker", "-c", "2", "--beat", "--loglevel", "WARNING")
        spawn("server", "serve", "--host", "127.0.0.1", "--port", str(port))
        _follow(follower, port)
        lines = [
            json.loads(line)
            for line in samples.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        _publish(ctx, [images.localise(event) for event in lines])
        _say(f"published {len(lines)} sample events; waiting for the worker...")
        ids = [e["id"] for e in lines]
        deadline = time.monotonic() + 90
        ledger = Ledger(ctx.store)
        docs = DocumentStore(ctx.store)
        plans, syncs = WorkList(ctx.store, "plan"), WorkList(ctx.store, "sync")
        said = ""
        while time.monotonic() < deadline:
            applied = sum(1 for s in ctx.store.event_states(ids) if s == "applied")
            posts = ledger.many(ledger.all_ids())
            open_posts = [p for p in posts if p.status in (PostStatus.PLANNED, PostStatus.SENDING)]
            owed = plans.size() + syncs.size()
            dirty = ctx.store.dirty_feeds()
            if applied == len(ids) and posts and not open_posts and not owed and not dirty:
                break
            # Say what is still happening (the worker's first start takes a few seconds).
            line = (
                f"  events applied {applied}/{len(ids)}; feeds waiting to render {len(dirty)}; "
                f"posts sent {len(posts) - len(open_posts)}/{len(posts)}"
            )
            if line != said:
                _say(line)
                said = line
            time.sleep(0.5)
        _report(ctx, ledger, docs, sandboxes, port)
        _lifecycle(ctx, ledger, docs, lines)
        _federated(follower, lines)
        _story(ctx, lines[5]["article"]["id"])
        _afterwards(demo_settings, env_file, port)
    except KeyboardInterrupt:
        code = 130
        _say("\ninterrupted")
    finally:
        if keep_running and code == 0:
            _say("\nRunning. Press Ctrl-C to stop.")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            _say("")
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C must not skip this
            _stop(procs, ["worker and beat", "server"])
            _say("stopping the platform sandboxes and the image server...")
            sandboxes.stop()
            follower.stop()
            images.stop()
            if settings.redis_url is None and not embedded_before:
                _say(f"stopping the embedded Redis (its data stays in {_shown(data)})...")
                stop_embedded(data)  # it saves first; the next command starts it again
            _say("stopped everything the demo started")
    return code


def _follow(follower: FediverseSandbox, port: int) -> None:
    """Once the server answers, the sandbox's reader follows @vi (its Follow is verified by
    our inbox and answered with a signed Accept)."""
    import httpx

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                break
        time.sleep(0.2)
    _, answer = follower.follow(f"{base}/@vi@127.0.0.1:{port}")
    _say(
        f"a sandbox fediverse reader follows @vi@127.0.0.1:{port} (our inbox: {answer.status_code})"
    )


def _federated(follower: FediverseSandbox, lines: list[dict[str, Any]]) -> None:
    """What the follower received: a Create per Vietnamese story, the Update, the Delete."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        follower.received("Delete") and follower.received("Update")
    ):
        time.sleep(0.5)
    counts = {
        kind: len(follower.received(kind)) for kind in ("Accept", "Create", "Update", "Delete")
    }
    _say(
        "\nThe sandbox fediverse reader received (each signature verified by its own check): "
        + ", ".join(f"{k} {n}" for k, n in counts.items())
    )
    for line in follower.timeline():
        if not line.startswith(("Create", "Accept")):
            _say(f"  {line}")


def _story(ctx: Any, article_id: str) -> None:
    """``syndication story`` on the retracted article: every place, and the verdict."""
    from syndication.views.story import story_report

    deadline = time.monotonic() + 30
    report = story_report(ctx.store, ctx.config, article_id)
    while time.monotonic() < deadline and not all(p.settled for p in report.places):
        time.sleep(0.5)
        report = story_report(ctx.store, ctx.config, article_id)
    _say(f"\nWhere did {article_id} go (bin/syndication story {article_id}):")
    for place in report.places:
        _say(f"  {place.kind:12} {place.name:45} {place.state}")
    _say(f"Verdict: {report.verdict}")


def _stop(procs: list[subprocess.Popen[bytes]], names: list[str]) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still there after STOP_GRACE."""
    for proc, name in zip(procs, names, strict=False):
        _say(f"stopping the {name} (pid {proc.pid})...")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for proc, name in zip(procs, names, strict=False):
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"the {name} did not stop within {STOP_GRACE:.0f} s: killing it")
        # Pool processes and anything else left in the group go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _afterwards(settings: Settings, env_file: Path, port: int) -> None:
    """Where to look next: commands that work pasted into a new shell in this folder."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    token = settings.status_token.get_secret_value() if settings.status_token else ""
    base = f"http://127.0.0.1:{port}"
    _say(
        f"\nThe demo works under the prefix {settings.prefix} with the config in "
        f"{_shown(settings.config_path)}; its webhook secret (a demo one) is {secret}.\n"
        f"{_shown(env_file)} holds its settings and the sandbox credentials (as secret files). "
        "In another shell, in this folder:\n"
        f"  . {_shown(env_file)}\n"
        "  bin/syndication status\n"
        "  bin/syndication posts list\n"
        "  bin/syndication channels check\n"
        "  bin/syndication config check\n"
        f"Pages: {base}/feeds/ (every feed) and {base}/status?token={token} (operators)"
    )


def _report(ctx: Any, ledger: Any, docs: Any, sandboxes: Sandboxes, port: int) -> None:
    from syndication.cli._context import print_table

    stored = ctx.store.count_articles()
    documents = docs.documents()
    _say(
        f"\n{stored} articles stored; {len(documents)} feed documents rendered "
        f"(also exported to {_shown(ctx.settings.data_dir.resolve() / 'export')})"
    )
    base = f"http://127.0.0.1:{port}"
    for path in (
        "/feeds/vi/all.rss",
        "/feeds/en/all.atom",
        "/feeds/ja/all.json",
        "/feeds/vi/category/heritage.rss",
        "/feeds/index.opml",
    ):
        _say(f"  {base}{path}")
    posts = ledger.many(ledger.all_ids())
    print_table(
        "Posts",
        ["post", "status", "photo", "remote"],
        [
            [
                p.id,
                p.status.value,
                "yes" if p.image_url and not _image_skipped(p) else "no",
                p.remote_url or p.remote_id or p.last_error,
            ]
            for p in posts
        ],
    )
    live = sandboxes.live_posts()
    _say(
        "Posts received by each platform's sandbox: "
        + ", ".join(f"{k} {v}" for k, v in live.items())
    )


def _image_skipped(post: Any) -> bool:
    return any("image skipped" in str(h.get("note", "")) for h in post.history)


def _publish(ctx: Any, events: list[dict[str, Any]]) -> None:
    """Hand events over the way every producer does (validate, inbox, nudge)."""
    publisher = Publisher(ctx.store, ctx.settings.limits, nudge=ctx.nudge_drain)
    for done in publisher.publish_all(events, source="demo"):
        if done.status != "queued":
            why = "; ".join(map(str, done.errors)) or done.reason
            _say(f"event {done.event_id} {done.status}: {why}")


def _lifecycle(ctx: Any, ledger: Any, docs: Any, lines: list[dict[str, Any]]) -> None:
    """An update and a retraction after the posts went out: feeds follow, posts are edited
    where the platform can and deleted where the channel asks."""
    import copy

    from syndication.worklist import WorkList

    first, second = lines[0], lines[5]
    update = copy.deepcopy(first)
    update["id"], update["type"] = "evt-demo-update", "article.updated"
    update["article"]["title"] += " (cập nhật)"
    update["article"]["updated_at"] = "2026-11-25T09:00:00+07:00"
    retract = {
        "id": "evt-demo-retract",
        "type": "article.unpublished",
        "occurred_at": "2026-11-25T09:05:00+07:00",
        "article": {"id": second["article"]["id"]},
    }
    _publish(ctx, [update, retract])
    updated_id, retracted_id = first["article"]["id"], second["article"]["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        gone = all(
            p.status.value in ("deleted", "cancelled") for p in ledger.for_article(retracted_id)
        )
        settled = not WorkList(ctx.store, "sync").size() and not WorkList(ctx.store, "plan").size()
        if gone and settled and not ctx.store.dirty_feeds():
            break
        time.sleep(0.5)
    feed = docs.get("/feeds/vi/all.rss")
    body = feed.body.decode() if feed else ""
    _say(
        f"\nUpdated {updated_id}: new title in /feeds/vi/all.rss: "
        f"{'yes' if update['article']['title'] in body else 'not yet'}"
    )
    _say(
        f"Retracted {retracted_id}: still in /feeds/vi/all.rss: "
        f"{'yes' if second['article']['url'] in body else 'no'}; its posts: "
        + ", ".join(f"{p.channel} {p.status.value}" for p in ledger.for_article(retracted_id))
    )
