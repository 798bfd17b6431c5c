"""Page view-models: what each page (and its JSON twin) shows, built from a `StatusSource`.

Each function returns plain JSON-ready data (camelCase keys, as `/status` has; times as ISO 8601
UTC strings). The HTML templates render exactly these documents, so the page and its JSON cannot
disagree. Failing objects come first on every list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from imagebot.service.ui.links import commit_url, http_url, redact_url
from imagebot.service.ui.source import (
    AutomationStatus,
    DeliveryRecord,
    Explanation,
    ImageValue,
    PolicyStatus,
    ReceiverStatus,
    RepositoryStatus,
    StatusSource,
)

Document = dict[str, Any]

BANNER_MAX = 20  # failures listed by name in a page's banner; the rest are counted
RECENT_CHANGES = 10
TIMELINE = 30  # deliveries of every automation on the automations page
HISTORY = 100  # deliveries on one automation's page


def iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _image(value: ImageValue | None) -> Document | None:
    return None if value is None else {"name": value.name, "tag": value.tag, "digest": value.digest}


def repository_doc(r: RepositoryStatus) -> Document:
    return {
        "namespace": r.namespace, "name": r.name, "key": r.key, "image": r.image, "suspended": r.suspended,
        "tags": r.tags, "lastScan": iso(r.last_scan),
        "duration": None if r.duration is None else round(r.duration, 3),
        "nextScan": iso(r.next_scan), "error": r.error,
    }


def policy_doc(p: PolicyStatus) -> Document:
    return {
        "namespace": p.namespace, "name": p.name, "key": p.key, "repository": p.repository,
        "latest": _image(p.latest), "changedAt": iso(p.changed_at), "previous": _image(p.previous),
        "error": p.error,
    }


def _failed(a: AutomationStatus) -> bool:
    return a.outcome == "failed" or a.error is not None


def automation_doc(a: AutomationStatus) -> Document:
    return {
        "namespace": a.namespace, "name": a.name, "key": a.key, "suspended": a.suspended,
        "repository": redact_url(a.repository_url), "branch": a.branch,
        "lastRun": iso(a.last_run), "outcome": a.outcome, "commit": a.commit,
        "commitUrl": commit_url(a.repository_url, a.commit, a.forge),
        "pullRequest": a.pull_request, "pullRequestUrl": http_url(a.pull_request),
        "nextRun": iso(a.next_run), "error": a.error, "failing": _failed(a),
    }


def delivery_doc(d: DeliveryRecord, forge: str | None = None) -> Document:
    return {
        "at": iso(d.at), "automation": d.automation, "commit": d.commit,
        "commitUrl": commit_url(d.repository_url, d.commit, forge), "branch": d.branch,
        "pullRequest": d.pull_request, "pullRequestUrl": http_url(d.pull_request),
        "changes": [{"file": c.file, "old": c.old, "new": c.new, "setter": c.setter} for c in d.changes],
    }


def receiver_doc(r: ReceiverStatus) -> Document:
    calls = [{"at": iso(c.at), "status": c.status, "accepted": c.accepted, "answer": _answer(c.accepted, c.reason),
              "reason": c.reason} for c in r.calls]
    return {"namespace": r.namespace, "name": r.name, "key": r.key, "type": r.type, "path": r.path,
            "resources": list(r.resources), "calls": calls}


def _answer(accepted: bool, reason: str) -> str:
    """accepted (work triggered), ignored (a valid call for an event the Receiver does not take), refused."""
    if not accepted:
        return "refused"
    return "ignored" if reason.startswith("ignored") else "accepted"


def explanation_doc(e: Explanation) -> Document:
    return {
        "policy": e.policy, "rule": e.rule, "tags": e.tags, "scannedAt": iso(e.scanned_at),
        "counts": dict(sorted(e.counts.items())),
        "verdicts": [{"tag": v.tag, "outcome": v.outcome, "rank": v.rank, "detail": v.detail} for v in e.verdicts],
        "text": explanation_text(e),
    }


def explanation_text(e: Explanation) -> str:
    """The lines `imagebot policy eval --explain` prints, for the verdicts kept."""
    width = max((len(v.tag) for v in e.verdicts), default=0)
    lines = []
    for v in e.verdicts:
        outcome = f"{v.outcome} #{v.rank}" if v.outcome == "ranked" else v.outcome
        lines.append(f"{v.tag:<{width}}  {outcome:<14}  {v.detail}".rstrip())
    shown = len(e.verdicts)
    if shown < e.tags:
        summary = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in sorted(e.counts.items()))
        lines.append(f"... {e.tags - shown} more tags not listed ({summary} in all)")
    return "\n".join(lines)


# --- failures ----------------------------------------------------------------------------------


def failures(repositories: Iterable[RepositoryStatus], policies: Iterable[PolicyStatus],
             automations: Iterable[AutomationStatus]) -> list[Document]:
    out: list[Document] = []
    out += [{"kind": "ImageRepository", "key": r.key, "error": r.error, "page": "/repositories"}
            for r in repositories if r.error]
    out += [{"kind": "ImagePolicy", "key": p.key, "error": p.error, "page": "/policies"} for p in policies if p.error]
    out += [{"kind": "ImageUpdateAutomation", "key": a.key, "error": a.error or "the last run failed",
             "page": "/automations"} for a in automations if _failed(a)]
    return out


def _banner(all_failures: list[Document]) -> Document:
    return {"count": len(all_failures), "shown": all_failures[:BANNER_MAX]}


def _failing_first(docs: Sequence[Document], failing: str = "error") -> list[Document]:
    return sorted(docs, key=lambda d: (not d.get(failing), d["key"]))


# --- pages -------------------------------------------------------------------------------------


class Snapshot:
    """The source's lists, read once per request so one page is consistent with itself."""

    def __init__(self, source: StatusSource) -> None:
        self.repositories = list(source.repositories())
        self.policies = list(source.policies())
        self.automations = list(source.automations())
        self.failures = failures(self.repositories, self.policies, self.automations)


def overview_page(source: StatusSource) -> Document:
    s = Snapshot(source)
    last = [r.last_scan for r in s.repositories if r.last_scan is not None]
    upcoming = [r.next_scan for r in s.repositories if r.next_scan is not None]
    changed = sorted((p for p in s.policies if p.changed_at is not None), key=lambda p: -(p.changed_at or 0))
    return {
        "counts": {
            "repositories": len(s.repositories),
            "repositoriesFailing": sum(1 for r in s.repositories if r.error),
            "repositoriesSuspended": sum(1 for r in s.repositories if r.suspended),
            "policies": len(s.policies),
            "policiesFailing": sum(1 for p in s.policies if p.error),
            "automations": len(s.automations),
            "automationsFailing": sum(1 for a in s.automations if _failed(a)),
            "receivers": len(source.receivers()),
        },
        "lastScan": iso(max(last)) if last else None,
        "nextScan": iso(min(upcoming)) if upcoming else None,
        "failures": _banner(s.failures),
        "recentChanges": [policy_doc(p) for p in changed[:RECENT_CHANGES]],
        "automations": _failing_first([automation_doc(a) for a in s.automations], "failing"),
    }


def repositories_page(source: StatusSource) -> Document:
    s = Snapshot(source)
    return {"failures": _banner(s.failures),
            "repositories": _failing_first([repository_doc(r) for r in s.repositories])}


def policies_page(source: StatusSource) -> Document:
    s = Snapshot(source)
    return {"failures": _banner(s.failures), "policies": _failing_first([policy_doc(p) for p in s.policies])}


def policy_page(source: StatusSource, key: str) -> Document | None:
    policy = next((p for p in source.policies() if p.key == key), None)
    if policy is None:
        return None
    explanation = source.explain(key)
    return {"policy": policy_doc(policy), "explanation": explanation_doc(explanation) if explanation else None}


def automations_page(source: StatusSource) -> Document:
    s = Snapshot(source)
    by_key = {a.key: a for a in s.automations}
    timeline = []
    for d in source.deliveries(None, TIMELINE):
        known = by_key.get(d.automation or "")
        timeline.append(delivery_doc(d, known.forge if known else None))
    return {"failures": _banner(s.failures),
            "automations": _failing_first([automation_doc(a) for a in s.automations], "failing"),
            "timeline": timeline}


def automation_page(source: StatusSource, key: str) -> Document | None:
    automation = next((a for a in source.automations() if a.key == key), None)
    if automation is None:
        return None
    history = [delivery_doc(d, automation.forge) for d in source.deliveries(key, HISTORY)]
    return {"automation": automation_doc(automation), "deliveries": history}


def receivers_page(source: StatusSource) -> Document:
    s = Snapshot(source)
    receivers = sorted((receiver_doc(r) for r in source.receivers()), key=lambda d: d["key"])
    return {"failures": _banner(s.failures), "receivers": receivers}

