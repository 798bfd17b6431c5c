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
-- The tags of an image's first listing, all first seen then (initial): one row instead of one per tag,
-- which made a first scan of 500 tags cost a millisecond of inserts. tag_first_seen holds the rest.
CREATE TABLE IF NOT EXISTS first_scans (
    image TEXT PRIMARY KEY,
    at REAL NOT NULL,
    tags TEXT NOT NULL               -- JSON list
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
    _lock: threading.RLock

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
            first = self._db.execute("SELECT tags FROM first_scans WHERE image=?", (image,)).fetchone()
            if first is None and not self._db.execute(
                    "SELECT 1 FROM tag_first_seen WHERE image=? LIMIT 1", (image,)).fetchone():
                if self._db.execute("INSERT OR IGNORE INTO first_scans(image, at, tags) VALUES (?,?,?)",
                                    (image, at, json.dumps(list(dict.fromkeys(tags))))).rowcount == 1:
                    return
                # another process sharing the database recorded the first scan a moment ago
                first = self._db.execute("SELECT tags FROM first_scans WHERE image=?", (image,)).fetchone()
            initial = set(json.loads(first[0])) if first is not None else set()
            new = [tag for tag in tags if tag not in initial]
            if new:
                # one statement, the rows made inside SQLite: binding rows one by one from Python was most
                # of a repository's store time
                self._db.execute(
                    "INSERT OR IGNORE INTO tag_first_seen(image, tag, first_seen, initial) "
                    "SELECT ?, value, ?, 0 FROM json_each(?)", (image, at, json.dumps(new)))

    def has_first_seen(self, image: str) -> bool:
        return any(self._db.execute(f"SELECT 1 FROM {table} WHERE image=? LIMIT 1", (image,)).fetchone()
                   for table in ("first_scans", "tag_first_seen"))

    def first_seen(self, image: str) -> dict[str, FirstSeen]:
        seen: dict[str, FirstSeen] = {}
        first = self._db.execute("SELECT at, tags FROM first_scans WHERE image=?", (image,)).fetchone()
        if first is not None:
            seen = dict.fromkeys(json.loads(first[1]), FirstSeen(first[0], True))
        rows = self._db.execute(
            "SELECT tag, first_seen, initial FROM tag_first_seen WHERE image=?", (image,)).fetchall()
        seen.update((tag, FirstSeen(at, bool(initial))) for tag, at, initial in rows)
        return seen
