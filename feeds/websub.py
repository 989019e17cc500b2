"""WebSub: tell the hub that feeds changed (``hub.mode=publish``).

One POST per changed document URL. The hub's failures map to the project's errors so that
the task layer retries transient ones with backoff; the adapter itself never retries.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
import structlog

from syndication.errors import PermanentError, TransientError
from syndication.worklist import WorkList

log = structlog.get_logger(__name__)

# How long one pinger holds a batch of paths.
_LEASE = 60.0


def ping_hub(
    hub: str, urls: Sequence[str], *, client: httpx.Client | None = None, timeout: float = 10.0
) -> int:
    """Notify ``hub`` that each of ``urls`` changed; return how many pings were accepted."""
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        for url in urls:
            try:
                response = http.post(hub, data={"hub.mode": "publish", "hub.url": url})
            except httpx.HTTPError as exc:
                raise TransientError("websub", f"hub unreachable: {type(exc).__name__}") from None
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(
                    "websub", f"hub answered {response.status_code}", status=response.status_code
                )
            if response.status_code >= 400:
                raise PermanentError(
                    "websub",
                    f"hub refused {url}: {response.status_code} {response.text[:200]}",
                    status=response.status_code,
                )
        return len(urls)
    finally:
        if own:
            http.close()


def ping_owed(work: WorkList, hub: str, base_url: str, *, batch: int = 100) -> int:
    """Ping the hub for every document path owed a ping; return how many were accepted.

    A path is forgotten once the hub accepted it, or refused it for good (a 4xx: a retry
    cannot help); while the hub is down the rest stay owed and are retried with backoff.
    """
    accepted = 0
    with httpx.Client(timeout=10.0) as client:
        while taken := work.take(time.time(), _LEASE, batch):
            for i, item in enumerate(taken):
                try:
                    accepted += ping_hub(hub, [base_url + item.item], client=client)
                except TransientError:
                    now = time.time()
                    for rest in taken[i:]:
                        work.fail(rest, now)
                    raise
                except PermanentError as exc:
                    log.warning("websub.refused", path=item.item, error=str(exc))
                work.done(item, time.time())
    return accepted
