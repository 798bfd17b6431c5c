"""The state database's tables for newestBuild, minimumAge and platforms: facts per digest, first sightings.

Mixed into `imagebot.store.Store`, which owns the connection (`_db`) and its lock (`_lock`). New tables
only, created on open: a database written before them keeps working, and an older imagebot ignores them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FACTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS image_facts (
    digest TEXT PRIMARY KEY,         -- digests are immutable: what is read once holds forever
    created REAL,                    -- build time (epoch seconds), NULL when the image records none
    platforms TEXT,                  -- JSON list of os/architecture[/variant], NULL when not read
    read_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_first_seen (
    image TEXT NOT NULL,
    tag TEXT NOT NULL,
    first_seen REAL NOT NULL,
    initial INTEGER NOT NULL,        -- 1: already there when the repository was first scanned
    PRIMARY KEY (image, tag)
);
"""


@dataclass(frozen=True)
class ImageFacts:
    """What a manifest says about the image: when it was built and which platforms it serves."""

    created: float | None
    platforms: list[str] | None


@dataclass(frozen=True)
class FirstSeen:
    at: float
    initial: bool  # there at the first scan: the time it appeared is unknown, its build time stands in



class FactsStore:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def record_facts(self, digest: str, facts: ImageFacts, at: float | None = None) -> None:
        at = time.time() if at is None else at
        platforms = None if facts.platforms is None else json.dumps(sorted(facts.platforms))
        with self._lock:
            self._db.execute(
                "INSERT INTO image_facts(digest, created, platforms, read_at) VALUES (?,?,?,?) "
                "ON CONFLICT(digest) DO UPDATE SET created=excluded.created, "
                "platforms=COALESCE(excluded.platforms, image_facts.platforms), read_at=excluded.read_at",
                (digest, facts.created, platforms, at))

    def record_reads(self, image: str, reads: Sequence[tuple[str, str, ImageFacts]], at: float | None = None) -> None:
        """Many (tag, digest, facts) read from a registry, in one transaction: a first scan reads thousands."""
        at = time.time() if at is None else at
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO digests(image, tag, digest, first_seen, last_seen) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(image, tag, digest) DO UPDATE SET last_seen=excluded.last_seen",
                    ((image, tag, digest, at, at) for tag, digest, _ in reads))
                self._db.executemany(
                    "INSERT INTO image_facts(digest, created, platforms, read_at) VALUES (?,?,?,?) "
                    "ON CONFLICT(digest) DO UPDATE SET created=excluded.created, "
                    "platforms=COALESCE(excluded.platforms, image_facts.platforms), read_at=excluded.read_at",
                    ((digest, f.created, None if f.platforms is None else json.dumps(sorted(f.platforms)), at)
                     for _, digest, f in reads))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def facts(self, digests: Iterable[str]) -> dict[str, ImageFacts]:
        wanted = list(dict.fromkeys(digests))
        found: dict[str, ImageFacts] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start:start + 500]
            rows = self._db.execute(
                f"SELECT digest, created, platforms FROM image_facts WHERE digest IN ({','.join('?' * len(chunk))})",
                chunk).fetchall()
            for digest, created, platforms in rows:
                found[digest] = ImageFacts(created, None if platforms is None else json.loads(platforms))
        return found

    def record_first_seen(self, image: str, tags: Sequence[str], at: float | None = None) -> None:
        """Note when each tag was first seen; tags already there at the first scan are marked initial."""
        at = time.time() if at is None else at
        with self._lock:
            known = self._db.execute("SELECT 1 FROM tag_first_seen WHERE image=? LIMIT 1", (image,)).fetchone()
            initial = 0 if known else 1
            self._db.execute("BEGIN")
            try:
                # one statement, the rows made inside SQLite: binding 500 rows one by one from Python was
                # most of a repository's store time in a first scan
                self._db.execute(
                    "INSERT OR IGNORE INTO tag_first_seen(image, tag, first_seen, initial) "
                    "SELECT ?, value, ?, ? FROM json_each(?)", (image, at, initial, json.dumps(list(tags))))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def has_first_seen(self, image: str) -> bool:
        return self._db.execute("SELECT 1 FROM tag_first_seen WHERE image=? LIMIT 1", (image,)).fetchone() is not None

    def first_seen(self, image: str) -> dict[str, FirstSeen]:
        rows = self._db.execute(
            "SELECT tag, first_seen, initial FROM tag_first_seen WHERE image=?", (image,)).fetchall()
        return {tag: FirstSeen(at, bool(initial)) for tag, at, initial in rows}
