"""imagebot's state in SQLite: tags per repository, digests seen, policy results, deliveries.

The database is a cache of what registries and git said: a corrupt or missing file is set aside
and rebuilt by the next scan rather than stopping imagebot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("imagebot.store")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (
    image TEXT PRIMARY KEY,          -- normalised reference: registry host / repository path
    scanned_at REAL NOT NULL,
    tag_count INTEGER NOT NULL,
    revision TEXT NOT NULL,          -- sha256 of the sorted tag list: changes when the tags change
    tags TEXT NOT NULL               -- JSON list
);
CREATE TABLE IF NOT EXISTS digests (
    image TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (image, tag, digest)
);
CREATE TABLE IF NOT EXISTS policy_results (
    policy TEXT PRIMARY KEY,         -- namespace/name
    image TEXT NOT NULL,
    tag TEXT,
    digest TEXT,
    changed_at REAL NOT NULL,
    checked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    automation TEXT NOT NULL,
    repository_url TEXT,
    commit_sha TEXT,
    branch TEXT,
    pull_request_url TEXT,
    changes TEXT NOT NULL            -- JSON list of {file, object, old, new, setter}
);
"""


@dataclass(frozen=True)
class TagRecord:
    image: str
    tags: list[str]
    scanned_at: float
    revision: str


@dataclass(frozen=True)
class PolicyRecord:
    policy: str
    image: str
    tag: str | None
    digest: str | None
    changed_at: float


@dataclass(frozen=True)
class Delivery:
    at: float
    automation: str
    repository_url: str | None
    commit: str | None
    branch: str | None
    pull_request_url: str | None
    changes: list[dict[str, Any]]
    id: int | None = None


def tag_revision(tags: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(tags)).encode()).hexdigest()[:16]


class Store:
    """One SQLite file, `state.db` in the state folder; safe to share between a CLI and a service."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "state.db"
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as err:
            aside = self.path.with_name(f"state.db.corrupt-{int(time.time())}")
            log.warning("state database %s is unreadable (%s): moved to %s and starting afresh", self.path, err, aside)
            for suffix in ("", "-wal", "-shm"):
                part = Path(str(self.path) + suffix)
                if part.exists():
                    part.rename(str(aside) + suffix)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version} is not {SCHEMA_VERSION}")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM repositories").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tags -------------------------------------------------------------------------------

    def save_tags(self, image: str, tags: Sequence[str], at: float | None = None) -> TagRecord:
        at = time.time() if at is None else at
        record = TagRecord(image, list(tags), at, tag_revision(tags))
        self._db.execute(
            "INSERT INTO repositories(image, scanned_at, tag_count, revision, tags) VALUES (?,?,?,?,?) "
            "ON CONFLICT(image) DO UPDATE SET scanned_at=excluded.scanned_at, tag_count=excluded.tag_count, "
            "revision=excluded.revision, tags=excluded.tags",
            (image, at, len(record.tags), record.revision, json.dumps(record.tags)),
        )
        return record

    def tags(self, image: str) -> TagRecord | None:
        row = self._db.execute(
            "SELECT image, tags, scanned_at, revision FROM repositories WHERE image=?", (image,)
        ).fetchone()
        return TagRecord(row[0], json.loads(row[1]), row[2], row[3]) if row else None

    # --- digests ----------------------------------------------------------------------------

    def record_digest(self, image: str, tag: str, digest: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        self._db.execute(
            "INSERT INTO digests(image, tag, digest, first_seen, last_seen) VALUES (?,?,?,?,?) "
            "ON CONFLICT(image, tag, digest) DO UPDATE SET last_seen=excluded.last_seen",
            (image, tag, digest, at, at),
        )

    def digest(self, image: str, tag: str) -> str | None:
        """The digest seen most recently for a tag (tags are mutable: `latest` moves)."""
        row = self._db.execute(
            "SELECT digest FROM digests WHERE image=? AND tag=? ORDER BY last_seen DESC LIMIT 1", (image, tag)
        ).fetchone()
        return row[0] if row else None

    def digests(self, image: str, tag: str) -> list[tuple[str, float]]:
        rows = self._db.execute(
            "SELECT digest, first_seen FROM digests WHERE image=? AND tag=? ORDER BY first_seen", (image, tag)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    # --- policy results ---------------------------------------------------------------------

    def save_policy_result(self, policy: str, image: str, tag: str | None, digest: str | None,
                           at: float | None = None) -> bool:
        """Store the latest image of a policy; True when it differs from what was stored."""
        at = time.time() if at is None else at
        previous = self.policy_result(policy)
        changed = previous is None or (previous.image, previous.tag, previous.digest) != (image, tag, digest)
        self._db.execute(
            "INSERT INTO policy_results(policy, image, tag, digest, changed_at, checked_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(policy) DO UPDATE SET image=excluded.image, tag=excluded.tag, digest=excluded.digest, "
            "changed_at=CASE WHEN ? THEN excluded.changed_at ELSE policy_results.changed_at END, "
            "checked_at=excluded.checked_at",
            (policy, image, tag, digest, at, at, changed),
        )
        return changed

    def policy_result(self, policy: str) -> PolicyRecord | None:
        row = self._db.execute(
            "SELECT policy, image, tag, digest, changed_at FROM policy_results WHERE policy=?", (policy,)
        ).fetchone()
        return PolicyRecord(*row) if row else None

    # --- deliveries -------------------------------------------------------------------------

    def record_delivery(self, delivery: Delivery) -> int:
        cur = self._db.execute(
            "INSERT INTO deliveries(at, automation, repository_url, commit_sha, branch, pull_request_url, changes) "
            "VALUES (?,?,?,?,?,?,?)",
            (delivery.at, delivery.automation, delivery.repository_url, delivery.commit, delivery.branch,
             delivery.pull_request_url, json.dumps(delivery.changes)),
        )
        return int(cur.lastrowid or 0)

    def deliveries(self, automation: str | None = None, limit: int = 100) -> list[Delivery]:
        query = ("SELECT id, at, automation, repository_url, commit_sha, branch, pull_request_url, changes "
                 "FROM deliveries")
        params: tuple[Any, ...] = ()
        if automation:
            query += " WHERE automation=?"
            params = (automation,)
        rows = self._db.execute(query + " ORDER BY at DESC, id DESC LIMIT ?", (*params, limit)).fetchall()
        return [Delivery(r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), id=r[0]) for r in rows]
