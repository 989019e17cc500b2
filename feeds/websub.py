"""WebSub: tell the hub that feeds changed (``hub.mode=publish``).

One POST per changed document URL. The hub's failures map to the project's errors so that
the task layer retries transient ones with backoff; the adapter itself never retries.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from syndication.errors import PermanentError, TransientError


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
