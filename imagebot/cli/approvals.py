"""`imagebot approvals list`, `imagebot approve ID`, `imagebot reject ID`: approval gates from a shell.

They work on the state folder (the service's, or a CI job's) and record the decision as the local
user (`user@host`). The commit itself is made by the automation's next run (`imagebot run`, or the
service's next run of it), which recomputes the change and commits it only if it is what was approved.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from imagebot.cli._common import add_state_option, state_dir


def register(subparsers: Any) -> None:
    approvals = subparsers.add_parser("approvals", help="list approval requests (spec.approval)")
    actions = approvals.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="pending and approved requests, newest first")
    add_state_option(listing)
    listing.add_argument("--all", action="store_true", help="every request, decided ones too, with decisions")
    listing.add_argument("--automation", default=None, metavar="NS/NAME", help="only this automation")
    listing.add_argument("--output", choices=("text", "json"), default="text",
                         help="text for people (default) or json for scripts")
    listing.set_defaults(handler=run_list)
    for name, decision in (("approve", "approved"), ("reject", "rejected")):
        parser = subparsers.add_parser(name, help=f"{name} a pending approval request, as the local user")
        add_state_option(parser)
        parser.add_argument("id", type=int, metavar="ID", help="the request's number (imagebot approvals list)")
        parser.set_defaults(handler=run_decide, decision=decision)


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at else "-"


def _state(approval: Any, now: float) -> str:
    return "expired" if approval.state == "pending" and approval.expires_at <= now else approval.state


def _open_store(args: argparse.Namespace, command: str) -> Any:
    from imagebot.store import Store

    folder = state_dir(args)
    if not (folder / "state.db").is_file():
        print(f"imagebot {command}: no state database in {folder} (scan, plan and run create it)", file=sys.stderr)
        return None
    return Store(folder)


def run_list(args: argparse.Namespace) -> int:
    store = _open_store(args, "approvals list")
    if store is None:
        return 1
    with store:
        now = time.time()  # a request past its time is shown expired; its automation's run records that
        found = store.approvals(None if args.all else ("pending", "approved"), args.automation)
        decisions = {a.id: store.approval_decisions(a.id) for a in found} if args.all else {}
    if args.output == "json":
        print(json.dumps([{**a.as_dict(), "state": _state(a, now), "diff": a.diff,
                           "decisions": [{"decision": d.decision, "who": d.who, "via": d.via, "at": d.at,
                                          "detail": d.detail} for d in decisions.get(a.id, [])]}
                          for a in found], indent=2))
        return 0
    if not found:
        print("no approval requests" if args.all else "no pending approval requests")
    for a in found:
        state = _state(a, now)
        state = f"pending until {_when(a.expires_at)}" if state == "pending" else state
        print(f"#{a.id}  {a.automation}  {state}  (base {a.base_commit[:12]}, asked {_when(a.created_at)})")
        for change in a.changes:
            print(f"    {change.get('file')}: {change.get('old')} -> {change.get('new')}")
        for d in reversed(decisions.get(a.id, [])):
            print(f"    {_when(d.at)}  {d.decision} by {d.who} via {d.via}" + (f" ({d.detail})" if d.detail else ""))
    return 0


def run_decide(args: argparse.Namespace) -> int:
    from imagebot.approval import ApprovalError
    from imagebot.approval.decide import local_user

    command = "approve" if args.decision == "approved" else "reject"
    store = _open_store(args, command)
    if store is None:
        return 1
    with store:
        try:
            decided = store.decide_approval(args.id, args.decision, local_user(), "cli")
        except ApprovalError as err:
            print(f"imagebot {command}: {err}", file=sys.stderr)
            return 1
    print(f"approval #{decided.id} for {decided.automation}: {decided.state} by {decided.decided_by}")
    if decided.state == "approved":
        print("the automation's next run commits it, if the change is still exactly this one")
    return 0
