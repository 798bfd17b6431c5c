"""Noticing that the policy files (or the secrets) changed, by polling their modification times.

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


def secrets_fingerprint(root: Path | None) -> Fingerprint:
    """(file, mtime_ns, size) of every `NAME/KEY` secret file; a mounted secret's `..data` swap shows
    through the key's link. Keys may start with a dot (`.dockerconfigjson`); `..`-entries are Kubernetes'."""
    if root is None or not root.is_dir():
        return None
    out = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith("..") or not folder.is_dir():
            continue
        for key in sorted(folder.iterdir()):
            if key.name.startswith(".."):
                continue
            try:
                st = key.stat()
            except OSError:
                continue
            out.append((str(key), st.st_mtime_ns, st.st_size))
    return tuple(out)


class ConfigWatcher:
    """Calls `on_change()` when the policy files under `path` (or the secrets under `secrets`) change."""

    def __init__(self, path: Path, on_change: Callable[[], Awaitable[None]], interval: float = 2.0,
                 secrets: Path | None = None) -> None:
        self.path = path
        self.secrets = secrets
        self.interval = interval
        self._on_change = on_change
        self._seen = self._fingerprint()

    def _fingerprint(self) -> tuple[Fingerprint, Fingerprint]:
        return fingerprint(self.path), secrets_fingerprint(self.secrets)

    def mark_seen(self) -> None:
        """The files as they are now have been handled (a SIGHUP reload read them)."""
        self._seen = self._fingerprint()

    async def poll_once(self) -> bool:
        current = self._fingerprint()
        if current == self._seen:
            return False
        what = "policy files" if current[0] != self._seen[0] else "secrets"
        self._seen = current
        log.info("%s under %s changed: reloading", what, self.path if what == "policy files" else self.secrets)
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
