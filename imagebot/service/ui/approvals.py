"""The status page's approval requests (spec.approval): `/approvals` lists the pending ones with their
diff, and a logged-in operator approves or rejects them there.

    GET  /approvals                  the page; its JSON at /status/approvals
    POST /approvals/{id}/approve     the same checks as "run now": actions on, logged in, same origin, CSRF
    POST /approvals/{id}/reject

The decision is recorded as `ui:operator` (the page has one shared operator token, no user names);
an approval then runs the automation, which commits only what was approved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from imagebot.approval import Approval, ApprovalError, Decision
from imagebot.service.ui.views import iso

if TYPE_CHECKING:
    from imagebot.service.ui.routes import StatusPage

WHO = "ui:operator"
RECENT = 20


class ApprovalDesk(Protocol):
    """Where the page reads requests and records decisions (the service's state database)."""

    def approvals(self, states: tuple[str, ...] | None = ..., automation: str | None = ...,
                  limit: int = ...) -> list[Approval]: ...

    def approval_decisions(self, approval: int | None = ..., limit: int = ...) -> list[Decision]: ...

    def decide_approval(self, approval: int, decision: Literal["approved", "rejected"], who: str, via: str,
                        at: float | None = ...) -> Approval: ...


def approval_doc(approval: Approval, decisions: Sequence[Decision]) -> dict[str, Any]:
    return {
        "id": approval.id, "automation": approval.automation, "state": approval.state,
        "branch": approval.branch, "baseCommit": approval.base_commit, "diff": approval.diff,
        "changes": [{"file": c.get("file"), "object": c.get("object"), "old": c.get("old"), "new": c.get("new")}
                    for c in approval.changes],
        "createdAt": iso(approval.created_at), "expiresAt": iso(approval.expires_at),
        "decidedBy": approval.decided_by, "decidedVia": approval.decided_via, "decidedAt": iso(approval.decided_at),
        "commit": approval.commit,
        "decisions": [{"decision": d.decision, "who": d.who, "via": d.via, "at": iso(d.at)}
                      for d in reversed(decisions)],
    }


def approvals_page(desk: ApprovalDesk) -> dict[str, Any]:
    pending = desk.approvals(("pending", "approved"))
    decided = desk.approvals(("delivered", "rejected", "expired", "superseded"), limit=RECENT)
    return {"pending": [approval_doc(a, desk.approval_decisions(a.id)) for a in pending],
            "decided": [approval_doc(a, desk.approval_decisions(a.id)) for a in decided]}


def approval_routes(page: StatusPage, desk: ApprovalDesk, on_approved: Callable[[Approval], None],
                    ) -> list[BaseRoute]:
    async def html(request: Request) -> Response:
        session = page._session(request)
        if page.settings.pages_need_login and session is None:
            return RedirectResponse("/login?next=%2Fapprovals", 303)
        return page._render(request, "approvals.html", session, page="approvals", doc=approvals_page(desk),
                            json_url="/status/approvals", notice=_notice(request))

    async def document(request: Request) -> Response:
        if page.settings.pages_need_login and page._session(request) is None:
            return JSONResponse({"error": "log in first"}, 401)
        return JSONResponse(approvals_page(desk))

    def decide(decision: Literal["approved", "rejected"]) -> Callable[[Request], Any]:
        async def act(request: Request) -> Response:
            if not page.actions_enabled:
                return page._error(request, 403, "Actions are off: the operator has set no token "
                                                 "(imagebot run --ui-token-file).")
            session = page._session(request)
            if session is None:
                return page._error(request, 403, "Log in to approve or reject: decisions change state.")
            refusal = await page.check_form(request, session.csrf)
            if refusal is not None:
                return refusal
            raw = request.path_params["id"]
            if not raw.isdigit() or len(raw) > 12:
                return page._error(request, 404, "No such approval request.")
            try:
                decided = desk.decide_approval(int(raw), decision, WHO, "ui")
            except ApprovalError as err:
                return page._error(request, 409, f"{err}.")
            if decided.state == "approved":
                on_approved(decided)
            if "application/json" in request.headers.get("accept", ""):
                return JSONResponse({"id": decided.id, "state": decided.state}, 200)
            return RedirectResponse(f"/approvals?decided={decided.id}&state={decided.state}", 303)

        return act

    return [
        Route("/approvals", html, methods=["GET"]),
        Route("/status/approvals", document, methods=["GET"]),
        Route("/approvals/{id}/approve", decide("approved"), methods=["POST"]),
        Route("/approvals/{id}/reject", decide("rejected"), methods=["POST"]),
    ]


def _notice(request: Request) -> str | None:
    number, state = request.query_params.get("decided"), request.query_params.get("state")
    if number and number.isdigit() and state in ("approved", "rejected"):
        tail = ": the automation runs now and commits it if the change is still the same" \
            if state == "approved" else ""
        return f"Approval #{number} {state}{tail}."
    return None
