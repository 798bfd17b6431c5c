"""Noticing that the policy files changed, by polling their modification times.

A stat of each file every couple of seconds costs next to nothing for the handful of files a
config has, works on every filesystem (a Kubernetes ConfigMap volume swaps a symlink, which
inotify-based watchers often miss) and needs no dependency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from imagebot.config._load import config_files

log = logging.getLogger("imagebot.service")

Fingerprint = tuple[tuple[str, int, int], ...] | None


def fingerprint(path: Path) -> Fingerprint:
    """(file, mtime_ns, size) of every policy file under `path`; None when `path` is missing."""
    try:
        files = config_files(path)
    except FileNotFoundError:
        return None
    out = []
    for file in files:
        try:
            st = file.stat()
        except OSError:  # removed between the listing and the stat: the next poll sees it
            continue
        out.append((str(file), st.st_mtime_ns, st.st_size))
    return tuple(out)


class ConfigWatcher:
    """Calls `on_change()` when the fingerprint of `path` differs from the last one seen."""

    def __init__(self, path: Path, on_change: Callable[[], Awaitable[None]], interval: float = 2.0) -> None:
        self.path = path
        self.interval = interval
        self._on_change = on_change
        self._seen = fingerprint(path)

    def mark_seen(self) -> None:
        """The files as they are now have been handled (a SIGHUP reload read them)."""
        self._seen = fingerprint(self.path)

    async def poll_once(self) -> bool:
        current = fingerprint(self.path)
        if current == self._seen:
            return False
        self._seen = current
        log.info("policy files under %s changed: reloading", self.path)
        await self._on_change()
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching %s failed; will look again", self.path)
