"""The state database's approval tables: requests, every decision on them, Slack messages, seen signatures.

Mixed into `imagebot.store.Store`, which owns the connection (`_db`) and its lock (`_lock`), as
`imagebot.storefacts` is. New tables only, created on open. Every state change is one guarded UPDATE
(`WHERE state='pending'`) or one transaction, so two deciders (a Slack click and a CLI call) can never
both win, and a process killed at any point leaves a request either decided or not.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

APPROVAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    automation TEXT NOT NULL,
    repository_url TEXT,
    branch TEXT,
    base_commit TEXT NOT NULL,       -- the checkout head the change was computed on
    changes TEXT NOT NULL,           -- JSON list of {file, object, old, new, setter}
    fingerprint TEXT NOT NULL,       -- sha256 of the canonical change set: what was approved
    diff TEXT NOT NULL,              -- unified diff of the files, for the status page
    state TEXT NOT NULL,             -- pending -> approved -> delivered; or rejected, expired, superseded
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    decided_by TEXT,
    decided_via TEXT,
    decided_at REAL,
    superseded_by INTEGER,
    commit_sha TEXT
);
CREATE INDEX IF NOT EXISTS approvals_by_automation ON approvals(automation, state);
CREATE TABLE IF NOT EXISTS approval_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    approval INTEGER NOT NULL,
    automation TEXT NOT NULL,
    decision TEXT NOT NULL,          -- requested, approved, rejected, expired, superseded, delivered
    who TEXT NOT NULL,
    via TEXT NOT NULL,               -- slack, ui, cli, imagebot
    at REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS approval_messages (
    approval INTEGER NOT NULL,
    provider TEXT NOT NULL,          -- namespace/name of the Slack Provider that posted it
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,                -- Slack's message timestamp: the thread of this approval
    PRIMARY KEY (approval, provider)
);
CREATE TABLE IF NOT EXISTS slack_signatures (
    signature TEXT PRIMARY KEY,      -- a request seen once: the same signature again is a replay
    at REAL NOT NULL
);
"""

ApprovalState = Literal["pending", "approved", "delivered", "rejected", "expired", "superseded"]
OPEN_STATES: tuple[ApprovalState, ...] = ("pending", "approved")
_COLUMNS = ("id, automation, repository_url, branch, base_commit, changes, fingerprint, diff, state, created_at, "
            "expires_at, decided_by, decided_via, decided_at, superseded_by, commit_sha")


class ApprovalError(Exception):
    """A decision that cannot be made: unknown id, already decided, expired. The text says which."""


@dataclass(frozen=True)
class Approval:
    id: int
    automation: str
    repository_url: str | None
    branch: str | None
    base_commit: str
    changes: list[dict[str, Any]]
    fingerprint: str
    diff: str
    state: ApprovalState
    created_at: float
    expires_at: float
    decided_by: str | None = None
    decided_via: str | None = None
    decided_at: float | None = None
    superseded_by: int | None = None
    commit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "automation": self.automation, "state": self.state, "repository": self.repository_url,
                "branch": self.branch, "baseCommit": self.base_commit, "changes": self.changes,
                "createdAt": self.created_at, "expiresAt": self.expires_at, "decidedBy": self.decided_by,
                "decidedVia": self.decided_via, "decidedAt": self.decided_at, "supersededBy": self.superseded_by,
                "commit": self.commit}


@dataclass(frozen=True)
class Decision:
    approval: int
    automation: str
    decision: str
    who: str
    via: str
    at: float
    detail: str = ""


@dataclass(frozen=True)
class SlackMessage:
    provider: str
    channel: str
    ts: str


def _approval(row: tuple[Any, ...]) -> Approval:
    return Approval(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), *row[6:])


class ApprovalStore:
    _db: sqlite3.Connection
    _lock: threading.RLock

    def _log_decision(self, approval: int, automation: str, decision: str, who: str, via: str, at: float,
                      detail: str = "") -> None:
        self._db.execute("INSERT INTO approval_decisions(approval, automation, decision, who, via, at, detail) "
                         "VALUES (?,?,?,?,?,?,?)", (approval, automation, decision, who, via, at, detail))

    def _transaction(self) -> _Tx:
        return _Tx(self._db, self._lock)

    def request_approval(self, *, automation: str, repository_url: str | None, branch: str | None,
                         base_commit: str, changes: list[dict[str, Any]], fingerprint: str, diff: str,
                         expires_after: float, supersedes: int | None = None, at: float | None = None,
                         ) -> Approval:
        """A new pending request; the open one it replaces (if any) becomes `superseded`, in one transaction."""
        at = time.time() if at is None else at
        with self._transaction():
            cur = self._db.execute(
                "INSERT INTO approvals(automation, repository_url, branch, base_commit, changes, fingerprint, diff, "
                "state, created_at, expires_at) VALUES (?,?,?,?,?,?,?,'pending',?,?)",
                (automation, repository_url, branch, base_commit, json.dumps(changes), fingerprint, diff, at,
                 at + expires_after))
            new = int(cur.lastrowid or 0)
            self._log_decision(new, automation, "requested", "imagebot", "imagebot", at)
            if supersedes is not None:
                done = self._db.execute(
                    "UPDATE approvals SET state='superseded', superseded_by=? WHERE id=? AND state IN "
                    "('pending', 'approved')", (new, supersedes))
                if done.rowcount == 1:
                    self._log_decision(supersedes, automation, "superseded", "imagebot", "imagebot", at,
                                       f"by #{new}")
        found = self.approval(new)
        assert found is not None
        return found

    def decide_approval(self, approval: int, decision: Literal["approved", "rejected"], who: str, via: str,
                        at: float | None = None) -> Approval:
        """Approve or reject a pending request, once; raises ApprovalError naming why it cannot be."""
        at = time.time() if at is None else at
        refusal: str | None = None
        with self._transaction():
            row = self._db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id=?", (approval,)).fetchone()
            current = _approval(row) if row else None
            if current is None:
                refusal = f"approval #{approval} does not exist"
            elif current.state == "pending" and current.expires_at <= at:
                # left pending: the automation's next run marks it expired and announces it
                refusal = f"approval #{approval} expired at {_iso(current.expires_at)}"
            elif current.state != "pending":
                by = f" by {current.decided_by}" if current.decided_by else ""
                extra = f" (by #{current.superseded_by})" if current.superseded_by else ""
                refusal = f"approval #{approval} is already {current.state}{by}{extra}"
            else:
                self._db.execute("UPDATE approvals SET state=?, decided_by=?, decided_via=?, decided_at=? "
                                 "WHERE id=? AND state='pending'", (decision, who, via, at, approval))
                self._log_decision(approval, current.automation, decision, who, via, at)
        if refusal is not None:
            raise ApprovalError(refusal)
        found = self.approval(approval)
        assert found is not None
        return found

    def _expire(self, approval: Approval, at: float) -> None:
        self._db.execute("UPDATE approvals SET state='expired', decided_at=? WHERE id=? AND state='pending'",
                         (at, approval.id))
        self._log_decision(approval.id, approval.automation, "expired", "imagebot", "imagebot", at)

    def expire_approvals(self, automation: str | None = None, at: float | None = None) -> list[Approval]:
        """Pending requests (of `automation`, or all) past their time become `expired`; those, for notifying."""
        at = time.time() if at is None else at
        query, params = f"SELECT {_COLUMNS} FROM approvals WHERE state='pending' AND expires_at<=?", [at]
        if automation is not None:
            query += " AND automation=?"
            params.append(automation)
        with self._transaction():
            rows = self._db.execute(query, params).fetchall()
            expired = [_approval(r) for r in rows]
            for approval in expired:
                self._expire(approval, at)
        return expired

    def approval_delivered(self, approval: int, commit: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self._transaction():
            cur = self._db.execute("UPDATE approvals SET state='delivered', commit_sha=? WHERE id=? AND "
                                   "state='approved'", (commit, approval))
            if cur.rowcount == 1:
                row = self._db.execute("SELECT automation FROM approvals WHERE id=?", (approval,)).fetchone()
                self._log_decision(approval, row[0], "delivered", "imagebot", "imagebot", at, commit)

    def withdraw_approval(self, approval: int, reason: str, at: float | None = None) -> bool:
        """An open request whose change is no longer there to make (someone made it by hand): superseded."""
        at = time.time() if at is None else at
        with self._transaction():
            cur = self._db.execute("UPDATE approvals SET state='superseded' WHERE id=? AND state IN "
                                   "('pending', 'approved')", (approval,))
            if cur.rowcount == 1:
                row = self._db.execute("SELECT automation FROM approvals WHERE id=?", (approval,)).fetchone()
                self._log_decision(approval, row[0], "superseded", "imagebot", "imagebot", at, reason)
        return cur.rowcount == 1

    def approval(self, approval: int) -> Approval | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id=?", (approval,)).fetchone()
        return _approval(row) if row else None

    def open_approval(self, automation: str) -> Approval | None:
        """The automation's request still in play (pending or approved), newest first."""
        row = self._db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE automation=? AND state IN "
                               "('pending', 'approved') ORDER BY id DESC LIMIT 1", (automation,)).fetchone()
        return _approval(row) if row else None

    def last_closed_approval(self, automation: str) -> Approval | None:
        """The automation's latest request once it is closed (delivered, rejected, expired, superseded)."""
        row = self._db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE automation=? ORDER BY id DESC LIMIT 1",
                               (automation,)).fetchone()
        found = _approval(row) if row else None
        return found if found is not None and found.state not in OPEN_STATES else None

    def approvals(self, states: tuple[ApprovalState, ...] | None = OPEN_STATES, automation: str | None = None,
                  limit: int = 100) -> list[Approval]:
        """Requests in `states` (None: all), newest first."""
        query, params = f"SELECT {_COLUMNS} FROM approvals WHERE 1=1", []
        if states is not None:
            query += f" AND state IN ({','.join('?' * len(states))})"
            params.extend(states)
        if automation is not None:
            query += " AND automation=?"
            params.append(automation)
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [_approval(r) for r in rows]

    def approval_decisions(self, approval: int | None = None, limit: int = 100) -> list[Decision]:
        """Decisions, newest first: of one request, or of all."""
        query, params = "SELECT approval, automation, decision, who, via, at, detail FROM approval_decisions", []
        if approval is not None:
            query += " WHERE approval=?"
            params.append(approval)
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [Decision(*r) for r in rows]

    def approval_decisions_after(self, last: int, limit: int = 100) -> list[tuple[int, Decision]]:
        """Decisions logged after the one numbered `last`, oldest first, with their numbers."""
        rows = self._db.execute("SELECT id, approval, automation, decision, who, via, at, detail FROM "
                                "approval_decisions WHERE id > ? ORDER BY id LIMIT ?", (last, limit)).fetchall()
        return [(r[0], Decision(*r[1:])) for r in rows]

    def last_approval_decision(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM approval_decisions").fetchone()[0])

    def approval_for_commit(self, commit: str) -> Approval | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE commit_sha=?", (commit,)).fetchone()
        return _approval(row) if row else None

    # --- Slack -------------------------------------------------------------------------------

    def record_slack_message(self, approval: int, provider: str, channel: str, ts: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO approval_messages(approval, provider, channel, ts) "
                             "VALUES (?,?,?,?)", (approval, provider, channel, ts))

    def slack_messages(self, approval: int) -> dict[str, SlackMessage]:
        rows = self._db.execute("SELECT provider, channel, ts FROM approval_messages WHERE approval=?",
                                (approval,)).fetchall()
        return {r[0]: SlackMessage(*r) for r in rows}

    def first_use_of_signature(self, signature: str, at: float, keep: float) -> bool:
        """True the first time `signature` is seen; signatures older than `keep` seconds are forgotten
        (their timestamps are refused as stale by then)."""
        with self._lock:
            self._db.execute("DELETE FROM slack_signatures WHERE at < ?", (at - keep,))
            cur = self._db.execute("INSERT OR IGNORE INTO slack_signatures(signature, at) VALUES (?,?)",
                                   (signature, at))
        return cur.rowcount == 1


class _Tx:
    """BEGIN IMMEDIATE .. COMMIT under the store's lock; ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
        finally:
            self._lock.release()


def _iso(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
