"""The service's side of approval gates: Slack's interaction route, and runs started by a decision."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from imagebot.approval.interactions import PATH, SlackInteractions
from imagebot.service.app import any_method_route
from imagebot.service.serial import Trigger

log = logging.getLogger("imagebot.service")

if TYPE_CHECKING:
    from imagebot.approval import Approval
    from imagebot.service.runtime import Runtime
    from imagebot.store import Store


RECENT = 20  # decided requests shown beside the open ones
WATCH_PERIOD = 5.0  # seconds between looks at the state database for decisions made elsewhere


class ApprovalWatch:
    """Decisions made outside this process (`imagebot approve` on the state folder) and requests that
    have expired: the automation runs once for each, to commit what was approved or to announce the
    expiry. Each request starts at most one such run, so a delivery that keeps failing is retried at the
    automation's own interval, not every few seconds."""

    def __init__(self, runtime: Runtime, period: float = WATCH_PERIOD) -> None:
        self.runtime = runtime
        self.period = period
        self._started: set[int] = set()
        self._announced = runtime.store.last_approval_decision()  # decisions before the start are not news

    def approved(self, approval: Approval) -> None:
        """An approval given in this process (Slack, the status page): run the automation now."""
        self._started.add(approval.id)
        self.runtime.automations.request(approval.automation, Trigger("approval"))

    def tick(self, now: float | None = None) -> list[str]:
        """Ask for the runs due now; the automations asked for."""
        now = time.time() if now is None else now
        asked = []
        open_requests = self.runtime.store.approvals(("pending", "approved"), limit=1000)
        self._started &= {a.id for a in open_requests}  # decided ones are done with
        for approval in open_requests:
            due = approval.state == "approved" or approval.expires_at <= now
            if due and approval.id not in self._started:
                self._started.add(approval.id)
                self.runtime.automations.request(approval.automation, Trigger("approval"))
                asked.append(approval.automation)
        self._announce()
        return asked

    def _announce(self) -> None:
        """Decisions made on the status page or with the CLI, into the request's Slack thread (a click
        in Slack replaces its own message already)."""
        from imagebot.approval.events import approval_event

        for number, decision in self.runtime.store.approval_decisions_after(self._announced):
            self._announced = number
            if decision.via not in ("ui", "cli") or decision.decision not in ("approved", "rejected"):
                continue
            approval = self.runtime.store.approval(decision.approval)
            automation = self.runtime.generation.config.find("ImageUpdateAutomation", decision.automation)
            if approval is None or automation is None:
                continue
            outcome = "committing it now" if decision.decision == "approved" else "nothing will be committed"
            self.runtime.generation.dispatcher.dispatch(approval_event(
                self.runtime.store, automation, approval, decision.decision,
                f"approval #{approval.id} {decision.decision} by {decision.who} via {decision.via}: {outcome}"))

    async def run(self) -> None:
        while True:
            try:
                self.tick()
            except sqlite3.Error as err:  # a busy or damaged database: try again at the next look
                log.warning("approval watch: %s", err)
            except Exception:  # a bug costs one look, not the watch
                log.exception("approval watch failed")
            await asyncio.sleep(self.period)


def approvals_view(store: Store) -> list[dict[str, Any]]:
    """Open requests and the latest decided ones, newest first, each with its decisions (who, how, when)."""
    shown = store.approvals() + store.approvals(("delivered", "rejected", "expired", "superseded"), limit=RECENT)
    shown.sort(key=lambda a: a.id, reverse=True)
    return [{**a.as_dict(), "createdAt": _iso(a.created_at), "expiresAt": _iso(a.expires_at),
             "decidedAt": _iso(a.decided_at) if a.decided_at else None,
             "decisions": [{"decision": d.decision, "who": d.who, "via": d.via, "at": _iso(d.at),
                            **({"detail": d.detail} if d.detail else {})}
                           for d in reversed(store.approval_decisions(a.id))]}
            for a in shown]


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def approval_route(runtime: Runtime, watch: ApprovalWatch) -> Route:
    interactions = SlackInteractions(runtime.store, lambda: (runtime.generation.config, runtime.secrets),
                                     watch.approved)
    return any_method_route(PATH, interactions.handle, name="slack-interactions")
