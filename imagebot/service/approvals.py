"""The service's side of approval gates: Slack's interaction route, and runs started by a decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from imagebot.approval.interactions import PATH, SlackInteractions
from imagebot.service.app import any_method_route
from imagebot.service.serial import Trigger

if TYPE_CHECKING:
    from imagebot.service.runtime import Runtime
    from imagebot.store import Store


RECENT = 20  # decided requests shown beside the open ones


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


def run_approved(runtime: Runtime, automation: str) -> None:
    """An approval was given: run the automation now (it recomputes, and commits only what was approved)."""
    runtime.automations.request(automation, Trigger("approved"))


def approval_route(runtime: Runtime) -> Route:
    interactions = SlackInteractions(runtime.store, lambda: (runtime.generation.config, runtime.secrets),
                                     lambda key: run_approved(runtime, key))
    return any_method_route(PATH, interactions.handle, name="slack-interactions")
