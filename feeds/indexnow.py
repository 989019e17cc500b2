"""IndexNow: tell search engines which article URLs changed, in batches.

Every applied publish, update and retraction records the article id in the ``indexnow`` work
list (in the apply script's own atomic step). A run takes the ids that have waited
``batch_window`` seconds (so a burst goes out in one request), skips each one whose current
state and revision was already accepted, and POSTs the rest as one JSON body
``{"host", "key", "keyLocation", "urlList"}`` (the protocol at indexnow.org):

- ``200``/``202``: accepted; the state and revision of each article is remembered, so the
  same revision is never submitted again (a retraction is a new state, submitted once);
- ``429`` and ``5xx`` (and network failures): the batch stays owed and is retried with the
  work list's backoff, never before the endpoint's ``Retry-After``; while that lasts nothing is
  sent at all;
- any other ``4xx`` (``400``, ``403`` key not valid, ``422`` URL not on the host): a retry
  cannot help, so the batch is dropped and logged (``indexnow.refused``) for an operator.

A URL that is not on the configured host is skipped before sending: one such URL would make
the endpoint refuse the whole batch. A worker that dies after the endpoint accepted a batch but
before the revisions were recorded submits them once more; for IndexNow that is harmless, and
it is the price of never losing one.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

import httpx
import structlog

from syndication import metrics
from syndication.config.search import IndexNowConfig
from syndication.errors import ConfigError
from syndication.store import Store, text_of
from syndication.worklist import Taken, WorkList

__all__ = [
    "IndexNow",
    "IndexNowReport",
    "Submission",
    "classify",
    "is_on_host",
    "key_location",
    "read_key",
    "request_body",
    "retry_after_seconds",
    "revision_token",
]

log = structlog.get_logger(__name__)

KEY_PATTERN = re.compile(r"[A-Za-z0-9-]{8,128}")
# How long a run holds the ids it took (a run that dies leaves them due again after this).
_LEASE = 120.0
# Articles read per MGET while building a batch (bodies can be large).
_READ_CHUNK = 500


# --- the protocol (pure) ----------------------------------------------------------------------
def read_key(config: IndexNowConfig, environ: Mapping[str, str] | None = None) -> str:
    """The IndexNow key from the environment variable config names (``NAME_FILE`` when
    ``NAME`` is unset). Errors name the variable, never the value."""
    env = os.environ if environ is None else environ
    name = config.key_env
    value = env.get(name)
    if value is None and env.get(f"{name}_FILE"):
        with open(env[f"{name}_FILE"], encoding="utf-8") as fh:
            value = fh.read()
    if value is None:
        raise ConfigError(f"search.indexnow.key_env: environment variable {name} is not set")
    value = value.strip()
    if not KEY_PATTERN.fullmatch(value):
        raise ConfigError(
            f"search.indexnow.key_env: {name} must hold 8 to 128 letters, digits or dashes"
        )
    return value


def key_location(config: IndexNowConfig, key: str) -> str:
    """Where the key file is published: config's ``key_location``, else the host's root."""
    return config.key_location or f"https://{config.host}/{key}.txt"


def is_on_host(url: str, host: str) -> bool:
    """Whether ``url`` is an http(s) URL on ``host`` (IndexNow refuses others)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def request_body(config: IndexNowConfig, key: str, urls: Sequence[str]) -> dict[str, object]:
    """The JSON body of one submission."""
    return {
        "host": config.host,
        "key": key,
        "keyLocation": key_location(config, key),
        "urlList": list(urls),
    }


def revision_token(state: str, version: str) -> str:
    """What was submitted for an article: its state (live or retracted) and revision."""
    return f"{'gone' if state == 'unpublished' else 'live'}:{version}"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


Outcome = Literal["accepted", "retry", "refused"]


@dataclass(frozen=True)
class Submission:
    """What the endpoint made of one request."""

    outcome: Outcome
    status: int | None
    message: str = ""
    # Seconds the endpoint asked us to wait (Retry-After), when it said.
    retry_after: float | None = None


def classify(status: int, headers: Mapping[str, str], text: str, now: float) -> Submission:
    """The outcome of an answer: 200/202 accepted; 429 and 5xx retry later; other 4xx (and
    anything else) refused for good."""
    if status in (200, 202):
        return Submission("accepted", status)
    message = text.strip().replace("\n", " ")[:300]
    if status == 429 or status >= 500:
        wait = retry_after_seconds(headers.get("retry-after"), now)
        return Submission("retry", status, message, wait)
    return Submission("refused", status, message)


# --- the shell --------------------------------------------------------------------------------
@dataclass
class IndexNowReport:
    """What one run did."""

    submitted: int = 0
    skipped: int = 0
    refused: int = 0
    requests: int = 0
    deferred: bool = False
    # Seconds left of a Retry-After hold (nothing was sent because of it).
    held: float = 0.0


@dataclass(frozen=True)
class _Pending:
    taken: Taken
    url: str
    token: str


class IndexNow:
    """Submits the URLs of changed articles (the ``indexnow`` work list)."""

    def __init__(
        self,
        store: Store,
        config: IndexNowConfig,
        *,
        environ: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.store = store
        self.r = store.r
        self.keys = store.keys
        self.config = config
        self.work = WorkList(store, "indexnow")
        self._environ = environ
        self._client = client

    def held_for(self) -> float:
        """Seconds left of the endpoint's last Retry-After (0 when free to send)."""
        ms = int(self.r.pttl(self.keys.indexnow_hold))
        return ms / 1000 if ms > 0 else 0.0

    def next_run_in(self, now: float) -> float | None:
        """Seconds until a run can send something: the soonest owed item must be due and have
        waited out the batch window, and any Retry-After hold must be over (None when nothing
        is owed)."""
        due = self.work.next_due()
        if due is None:
            return None
        return max(self.held_for(), due + self.config.batch_window - now, 0.0)

    def submitted_token(self, article_id: str) -> str | None:
        """The state and revision of ``article_id`` last accepted, if any."""
        return text_of(self.r.hget(self.keys.indexnow_submitted, article_id)) or None

    def run(self, *, budget: float = 60.0) -> IndexNowReport:
        """Submit every settled change, batch by batch, until none is left, the endpoint asks
        us to wait, or ``budget`` seconds are spent."""
        report = IndexNowReport()
        try:
            key = read_key(self.config, self._environ)
        except ConfigError as exc:
            self._defer_all(str(exc))
            report.deferred = True
            return report
        deadline = time.monotonic() + budget
        client = self._client or httpx.Client(timeout=self.config.timeout)
        try:
            while time.monotonic() < deadline:
                report.held = self.held_for()
                if report.held:
                    break
                now = time.time()
                # Only changes older than the window: the rest of a burst joins them later.
                settle = now - self.config.batch_window
                taken = self.work.take(
                    settle, _LEASE + self.config.batch_window, self.config.batch_size
                )
                if not taken:
                    break
                pending = self._pending(taken, report)
                if pending and not self._submit(client, key, pending, report):
                    break
        finally:
            if self._client is None:
                client.close()
        return report

    def _defer_all(self, problem: str) -> None:
        # Without a key nothing can be sent; keep the work, backing off, and say why.
        now = time.time()
        taken = self.work.take(now, _LEASE, self.config.batch_size)
        for item in taken:
            self.work.fail(item, now, base=self.config.retry_base, cap=self.config.retry_cap)
        if taken:
            log.error("indexnow.not_configured", error=problem, articles=len(taken))

    def _pending(self, taken: Sequence[Taken], report: IndexNowReport) -> list[_Pending]:
        """The taken articles to submit now; the others (already submitted, gone without a
        URL, not on the host) are completed here."""
        ids = [t.item for t in taken]
        pipe = self.r.pipeline(transaction=False)
        for aid in ids:
            pipe.hmget(self.keys.article_meta(aid), "state", "version")
        metas = pipe.execute()
        submitted = self.r.hmget(self.keys.indexnow_submitted, ids)
        candidates: list[tuple[Taken, str]] = []
        now = time.time()
        for item, (state, version), last in zip(taken, metas, submitted, strict=True):
            token = revision_token(text_of(state), text_of(version)) if state else ""
            if not token or token == text_of(last):
                self.work.done(item, now)  # unknown article, or this revision went already
                report.skipped += 1
            else:
                candidates.append((item, token))
        pending: list[_Pending] = []
        for start in range(0, len(candidates), _READ_CHUNK):
            chunk = candidates[start : start + _READ_CHUNK]
            articles = self.store.get_articles([item.item for item, _ in chunk])
            for (item, token), article in zip(chunk, articles, strict=True):
                if article is not None and is_on_host(article.url, self.config.host):
                    pending.append(_Pending(item, article.url, token))
                    continue
                if article is not None:
                    log.warning(
                        "indexnow.skipped",
                        article_id=item.item,
                        url=article.url,
                        reason=f"not on host {self.config.host}",
                    )
                self.work.done(item, now)
                report.skipped += 1
        return pending

    def _submit(
        self, client: httpx.Client, key: str, pending: Sequence[_Pending], report: IndexNowReport
    ) -> bool:
        """POST one batch and record its outcome; False when the endpoint asked us to stop."""
        urls = list(dict.fromkeys(p.url for p in pending))
        started = time.time()
        try:
            response = client.post(
                self.config.endpoint,
                json=request_body(self.config, key, urls),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            result = classify(response.status_code, response.headers, response.text, time.time())
        except httpx.HTTPError as exc:
            result = Submission("retry", None, f"unreachable: {type(exc).__name__}")
        report.requests += 1
        now = time.time()
        if result.outcome == "accepted":
            pipe = self.r.pipeline(transaction=False)
            pipe.hset(
                self.keys.indexnow_submitted, mapping={p.taken.item: p.token for p in pending}
            )
            pipe.execute()
            for p in pending:
                self.work.done(p.taken, now)
            report.submitted += len(urls)
            metrics.INDEXNOW_URLS.labels("accepted").inc(len(urls))
            log.info(
                "indexnow.submitted",
                urls=len(urls),
                status=result.status,
                ms=round((now - started) * 1000, 1),
            )
            return True
        if result.outcome == "refused":
            for p in pending:
                self.work.done(p.taken, now)
            report.refused += len(urls)
            metrics.INDEXNOW_URLS.labels("refused").inc(len(urls))
            log.warning(
                "indexnow.refused",
                status=result.status,
                error=result.message,
                urls=len(urls),
                first_url=urls[0],
            )
            return True
        not_before = 0.0
        if result.retry_after:
            not_before = now + result.retry_after
            # Nothing else goes out until the endpoint's wait is over.
            self.r.set(self.keys.indexnow_hold, "1", px=max(1, int(result.retry_after * 1000)))
        attempts = 0
        for p in pending:
            attempts = self.work.fail(
                p.taken,
                now,
                base=self.config.retry_base,
                cap=self.config.retry_cap,
                not_before=not_before,
            )
        report.deferred = True
        metrics.INDEXNOW_URLS.labels("deferred").inc(len(urls))
        log.warning(
            "indexnow.deferred",
            status=result.status,
            error=result.message,
            urls=len(urls),
            retry_after=result.retry_after,
            attempts=attempts,
        )
        return False
