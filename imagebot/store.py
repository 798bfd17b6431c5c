"""imagebot's state in SQLite: tags per repository, digests seen, policy results, deliveries.

The database is a cache of what registries and git said: a corrupt or missing file is set aside
and rebuilt by the next scan rather than stopping imagebot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from imagebot.approval._store import APPROVAL_SCHEMA, ApprovalStore
from imagebot.storefacts import FACTS_SCHEMA, FactsStore
from imagebot.storefacts import FirstSeen as FirstSeen  # re-exported
from imagebot.storefacts import ImageFacts as ImageFacts  # re-exported

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
-- A push about to happen, written before it: a kill between the push and its record leaves this row,
-- and the next run asks the remote whether the commit landed (then records and notifies it) or not.
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    automation TEXT NOT NULL,
    repository_url TEXT NOT NULL,
    ref TEXT NOT NULL,               -- what is pushed to: a branch, or a refspec's destination
    commit_sha TEXT NOT NULL,
    changes TEXT NOT NULL,
    state TEXT NOT NULL,             -- pushing -> recorded -> sending -> notified, or abandoned (never landed)
    owner TEXT NOT NULL,             -- host:pid of the process that moved it last: alive means busy
    delivery_id INTEGER
);
CREATE INDEX IF NOT EXISTS intents_by_state ON intents(automation, state);
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


IntentState = Literal["pushing", "recorded", "sending", "notified", "abandoned"]


@dataclass(frozen=True)
class Intent:
    """A push imagebot set out to make: `commit` to `ref` of `repository_url`, with its changes."""

    id: int
    at: float
    automation: str
    repository_url: str
    ref: str
    commit: str
    changes: list[dict[str, Any]]
    state: IntentState
    owner: str
    delivery_id: int | None

    @property
    def owner_alive(self) -> bool:
        """Whether the process that last moved this intent still runs (on this host; elsewhere: assumed)."""
        host, _, pid = self.owner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @property
    def mine(self) -> bool:
        return self.owner == _OWNER


_OWNER = f"{socket.gethostname()}:{os.getpid()}"


def tag_revision(tags: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(tags)).encode()).hexdigest()[:16]


class Store(FactsStore, ApprovalStore):
    """One SQLite file, `state.db` in the state folder; safe to share between a CLI and a service."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "state.db"
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = self._open()
        # one transaction at a time on the shared connection; re-entrant, for a method inside batch()
        self._lock = threading.RLock()

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
            db.executescript(FACTS_SCHEMA)
            db.executescript(APPROVAL_SCHEMA)
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

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The statements of the block in one transaction: one commit for a listing's several writes
        (its tags, its first sightings), not one each."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- tags -------------------------------------------------------------------------------

    def save_tags(self, image: str, tags: Sequence[str], at: float | None = None) -> TagRecord:
        at = time.time() if at is None else at
        record = TagRecord(image, list(tags), at, tag_revision(tags))
        listed = json.dumps(record.tags)
        # Most scans find the same list: then only the time is written, not the list again.
        if self._db.execute("UPDATE repositories SET scanned_at=? WHERE image=? AND tags=?",
                            (at, image, listed)).rowcount == 1:
            return record
        self._db.execute(
            "INSERT INTO repositories(image, scanned_at, tag_count, revision, tags) VALUES (?,?,?,?,?) "
            "ON CONFLICT(image) DO UPDATE SET scanned_at=excluded.scanned_at, tag_count=excluded.tag_count, "
            "revision=excluded.revision, tags=excluded.tags",
            (image, at, len(record.tags), record.revision, listed),
        )
        return record

    def touch_tags(self, image: str, revision: str, at: float | None = None) -> bool:
        """Record a scan that found the tags the database holds (those of `revision`): True, or False
        (nothing written) when it holds other tags, or none."""
        at = time.time() if at is None else at
        return self._db.execute("UPDATE repositories SET scanned_at=? WHERE image=? AND revision=?",
                                (at, image, revision)).rowcount == 1

    def tags_revision(self, image: str) -> str | None:
        """The revision of the stored tag list, without reading the list."""
        row = self._db.execute("SELECT revision FROM repositories WHERE image=?", (image,)).fetchone()
        return row[0] if row else None

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

    def tag_digests(self, image: str) -> dict[str, str]:
        """tag -> the digest seen most recently, for every tag of `image` seen with a digest."""
        rows = self._db.execute(
            "SELECT tag, digest FROM digests WHERE image=? ORDER BY last_seen", (image,)).fetchall()
        return {tag: digest for tag, digest in rows}

    # --- policy results ---------------------------------------------------------------------

    def save_policy_result(self, policy: str, image: str, tag: str | None, digest: str | None,
                           at: float | None = None) -> bool:
        """Store the latest image of a policy; True when it differs from what was stored."""
        at = time.time() if at is None else at
        # Most scans select what is stored: one statement notes the check, and nothing changed.
        if self._db.execute("UPDATE policy_results SET checked_at=? WHERE policy=? AND image=? AND tag IS ? "
                            "AND digest IS ?", (at, policy, image, tag, digest)).rowcount == 1:
            return False
        self._db.execute(
            "INSERT INTO policy_results(policy, image, tag, digest, changed_at, checked_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(policy) DO UPDATE SET image=excluded.image, tag=excluded.tag, digest=excluded.digest, "
            "changed_at=excluded.changed_at, checked_at=excluded.checked_at",
            (policy, image, tag, digest, at, at),
        )
        return True

    def policy_result(self, policy: str) -> PolicyRecord | None:
        row = self._db.execute(
            "SELECT policy, image, tag, digest, changed_at FROM policy_results WHERE policy=?", (policy,)
        ).fetchone()
        return PolicyRecord(*row) if row else None

    # --- deliveries -------------------------------------------------------------------------

    def record_delivery(self, delivery: Delivery) -> int:
        with self._lock:
            return self._insert_delivery(delivery)

    def _insert_delivery(self, delivery: Delivery) -> int:
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

    # --- push intents -----------------------------------------------------------------------

    def intend_push(self, automation: str, repository_url: str, ref: str, commit: str,
                    changes: list[dict[str, Any]], at: float | None = None) -> int:
        """Write down a push before making it; its id. Durable before the push starts (WAL, one statement)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO intents(at, automation, repository_url, ref, commit_sha, changes, state, owner) "
                "VALUES (?,?,?,?,?,?,'pushing',?)",
                (time.time() if at is None else at, automation, repository_url, ref, commit, json.dumps(changes),
                 _OWNER),
            )
        return int(cur.lastrowid or 0)

    def abandon_intent(self, intent: int) -> None:
        """The push did not land (it was refused, or the remote does not have the commit)."""
        with self._lock:
            self._db.execute("UPDATE intents SET state='abandoned', owner=? WHERE id=? AND state='pushing'",
                             (_OWNER, intent))

    def complete_intent(self, intent: int, delivery: Delivery) -> int | None:
        """Record the delivery of a push that landed, once: the delivery's id, or None when another run
        (or an earlier call) recorded it already. Whoever gets the id owes the notification."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "UPDATE intents SET state='recorded', owner=? WHERE id=? AND state IN ('pushing', 'abandoned')",
                    (_OWNER, intent))
                if cur.rowcount != 1:
                    self._db.execute("ROLLBACK")
                    return None
                delivery_id = self._insert_delivery(delivery)
                self._db.execute("UPDATE intents SET delivery_id=? WHERE id=?", (delivery_id, intent))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return delivery_id

    def claim_notification(self, intent: int) -> bool:
        """Take over the notification of a recorded intent whose owner died; False if someone has it."""
        with self._lock:
            cur = self._db.execute("UPDATE intents SET owner=? WHERE id=? AND state='recorded' AND owner!=?",
                                   (_OWNER, intent, _OWNER))
        return cur.rowcount == 1

    def intent_sending(self, intent: int) -> None:
        """Its notification is handed to the notifiers: from here on, a kill may or may not have let it out."""
        with self._lock:
            self._db.execute("UPDATE intents SET state='sending' WHERE id=? AND state='recorded'", (intent,))

    def intent_notified(self, intent: int) -> None:
        with self._lock:
            self._db.execute("UPDATE intents SET state='notified' WHERE id=? AND state IN ('recorded', 'sending')",
                             (intent,))

    def intents(self, automation: str | None = None, states: Sequence[IntentState] = ("pushing", "recorded"),
                limit: int = 100) -> list[Intent]:
        """Intents in `states`, oldest first."""
        marks = ",".join("?" * len(states))
        query = ("SELECT id, at, automation, repository_url, ref, commit_sha, changes, state, owner, delivery_id "
                 f"FROM intents WHERE state IN ({marks})")
        params: list[Any] = list(states)
        if automation is not None:
            query += " AND automation=?"
            params.append(automation)
        rows = self._db.execute(query + " ORDER BY id LIMIT ?", (*params, limit)).fetchall()
        return [Intent(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], r[9]) for r in rows]
