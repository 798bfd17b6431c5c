"""What a cycle does with a computed change when its automation has `spec.approval.required`.

The change set (files, objects, old and new values, setters) is what a person approves, by its
fingerprint. A run commits only an approved request whose change set is exactly what it computes
now on the current head; any difference (a newer tag, a moved file) becomes a new pending request
that supersedes the old one. A change set that was rejected or expired is not asked for again:
only a different one (a newer image) opens a new request. A delivered change set that the checkout
branch does not hold yet (it went to a separate push branch or a pull request) is delivered again as
approved, which leaves that branch as it is.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from imagebot.approval._store import Approval

if TYPE_CHECKING:
    from imagebot.config import ImageUpdateAutomation
    from imagebot.store import Store
    from imagebot.update import UpdateResult

MAX_DIFF = 64 * 1024  # characters of unified diff kept per request (the status page shows it)
TRAILER = "Approved-by"


def fingerprint(changes: list[dict[str, Any]]) -> str:
    """The identity of a change set, independent of order and of the commit it was computed on."""
    canonical = sorted(json.dumps(c, sort_keys=True, separators=(",", ":")) for c in changes)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def unified_diff(result: UpdateResult, limit: int = MAX_DIFF) -> str:
    parts: list[str] = []
    for file in result.files:
        old = file.old.decode("utf-8", "replace").splitlines(keepends=True)
        new = file.new.decode("utf-8", "replace").splitlines(keepends=True)
        parts.extend(difflib.unified_diff(old, new, f"a/{file.path}", f"b/{file.path}", n=2))
    text = "".join(parts)
    return text if len(text) <= limit else text[:limit] + f"\n… diff cut at {limit} characters\n"


@dataclass(frozen=True)
class Verdict:
    """`deliver`: commit now (an approved request matching the change). Otherwise `pending` waits;
    `requested` says it is new (notify), `superseded` is the request it replaced, `declined` is the
    rejected or expired request of this same change (nothing asked, nothing committed)."""

    deliver: Approval | None = None
    pending: Approval | None = None
    requested: bool = False
    superseded: Approval | None = None
    declined: Approval | None = None
    withdrawn: Approval | None = None
    expired: tuple[Approval, ...] = ()


def settle(store: Store, automation: ImageUpdateAutomation, changes: list[dict[str, Any]], diff: str, *,
           base_commit: str, repository_url: str | None, branch: str | None, now: float | None = None) -> Verdict:
    """Decide what the run does with `changes` (computed on `base_commit`); records any new request."""
    assert automation.spec.approval is not None
    now = time.time() if now is None else now
    expired = tuple(store.expire_approvals(automation.key, at=now))
    current = store.open_approval(automation.key)
    if not changes:
        if current is not None and current.state == "approved":
            # a run killed after its push: the next run recorded the commit from its intent (recover.py)
            landed = next(iter(store.deliveries(automation.key, limit=1)), None)
            if landed is not None and landed.commit and landed.at >= (current.decided_at or 0):
                store.approval_delivered(current.id, landed.commit, at=now)
                return Verdict(expired=expired)
        if current is not None and store.withdraw_approval(current.id, "nothing to change any more", at=now):
            return Verdict(withdrawn=current, expired=expired)
        return Verdict(expired=expired)
    print_ = fingerprint(changes)
    if current is not None and current.fingerprint == print_:
        if current.state == "approved":
            return Verdict(deliver=current, expired=expired)
        return Verdict(pending=current, expired=expired)
    if current is None:
        closed = store.last_closed_approval(automation.key)
        if closed is not None and closed.fingerprint == print_:
            if closed.state == "delivered":  # delivered to a push branch main does not have yet: keep it there
                return Verdict(deliver=closed, expired=expired)
            if closed.state in ("rejected", "expired"):
                return Verdict(declined=closed, expired=expired)
    new = store.request_approval(automation=automation.key, repository_url=repository_url, branch=branch,
                                 base_commit=base_commit, changes=changes, fingerprint=print_, diff=diff,
                                 expires_after=automation.spec.approval.expires_after,
                                 supersedes=current.id if current else None, at=now)
    return Verdict(pending=new, requested=True, superseded=current, expired=expired)


def with_trailer(message: str, approval: Approval) -> str:
    """The commit message with `Approved-by: WHO via VIA at TIME (approval #ID)` in its trailer block."""
    when = datetime.fromtimestamp(approval.decided_at or time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{TRAILER}: {approval.decided_by} via {approval.decided_via} at {when} (approval #{approval.id})"
    body = message.rstrip("\n")
    last = body.rsplit("\n\n", 1)[-1] if "\n\n" in body else ""
    in_trailers = bool(last) and all(":" in ln and not ln.startswith(" ") and " " not in ln.split(":", 1)[0]
                                     for ln in last.splitlines())
    return f"{body}\n{line}\n" if in_trailers else f"{body}\n\n{line}\n"
