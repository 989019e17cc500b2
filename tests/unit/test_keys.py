"""Every Redis key is built in syndication/keys.py, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

from syndication.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
# A string literal or f-string that formats a key: "<something>:<something>" built from a
# prefix variable, e.g. f"{prefix}:feed:{id}" or f"{self.prefix}:post".
_KEY_FORMAT = re.compile(r"""f["'][^"']*\{[^}]*prefix[^}]*\}:""")


def test_no_module_but_keys_formats_a_redis_key() -> None:
    """A grep of the sources finds key formatting only in keys.py."""
    offenders = []
    for package in ("syndication", "workers", "feeds"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "keys.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _KEY_FORMAT.search(line) and not line.lstrip().startswith(("#", "``")):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_keys_live_under_the_prefix() -> None:
    """Keys of two deployments with different prefixes never collide."""
    a, b = Keys("synd"), Keys("other")
    assert a.article("x") == "synd:article:x" and b.article("x") == "other:article:x"
    assert a.celery_queue("ingest").startswith("synd:") and a.pattern() == "synd:*"
