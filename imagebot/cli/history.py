"""`imagebot history`: the deliveries recorded in the state database."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from imagebot.cli._common import add_state_option, state_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("history", help="list recorded deliveries (commits and pull requests)")
    add_state_option(parser)
    parser.add_argument("--automation", default=None, metavar="NS/NAME", help="only this automation")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="at most N deliveries, newest first "
                        "(default 50)")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people (default) or json for scripts")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imagebot.store import Store

    # A reader never creates state: a mistyped --state-dir must not look like an empty history.
    folder = state_dir(args)
    if not folder.is_dir():
        print(f"imagebot history: state folder {folder} does not exist (scan, plan and run create it)",
              file=sys.stderr)
        return 1
    deliveries, approved, decisions = [], {}, []
    if (folder / "state.db").is_file():  # an existing folder without a database holds no deliveries yet
        with Store(folder) as store:
            deliveries = store.deliveries(args.automation, limit=args.limit)
            approved = {d.commit: a for d in deliveries if d.commit and (a := store.approval_for_commit(d.commit))}
            # spec.approval: the decisions that did not end in a commit (rejected, expired, superseded)
            decisions = [d for d in store.approval_decisions(limit=args.limit)
                         if d.decision not in ("requested", "delivered", "approved")
                         and (args.automation is None or d.automation == args.automation)]
    if args.output == "json":
        print(json.dumps([{
            "id": d.id, "time": datetime.fromtimestamp(d.at, UTC).isoformat(), "automation": d.automation,
            "repository": d.repository_url, "commit": d.commit, "branch": d.branch,
            "pullRequest": d.pull_request_url, "changes": d.changes,
            **({"approval": _approval_json(approved[d.commit])} if d.commit in approved else {}),
        } for d in deliveries], indent=2))
        return 0
    if not deliveries:
        print("no deliveries recorded")
    for d in deliveries:
        when = datetime.fromtimestamp(d.at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{when}  {d.automation}  {(d.commit or '')[:12]} -> {d.branch}"
              + (f"  {d.pull_request_url}" if d.pull_request_url else ""))
        if d.commit in approved:
            a = approved[d.commit]
            print(f"    approved by {a.decided_by} via {a.decided_via} at {_when(a.decided_at)} (approval #{a.id})")
        for change in d.changes:
            print(f"    {change['file']}: {change['old']} -> {change['new']}")
    if decisions:
        print("approval decisions without a commit:")
    for decision in decisions:
        print(f"{_when(decision.at)}  {decision.automation}  approval #{decision.approval} {decision.decision} "
              f"by {decision.who} via {decision.via}" + (f" ({decision.detail})" if decision.detail else ""))
    return 0


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at or 0, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _approval_json(approval: Any) -> dict[str, Any]:
    return {"id": approval.id, "by": approval.decided_by, "via": approval.decided_via,
            "at": datetime.fromtimestamp(approval.decided_at or 0, UTC).isoformat()}
