"""`imagebot history`: the deliveries recorded in the state database."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from imagebot.cli._common import add_state_option, state_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("history", help="list recorded deliveries (commits and pull requests)")
    add_state_option(parser)
    parser.add_argument("--automation", default=None, metavar="NS/NAME", help="only this automation")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imagebot.store import Store

    with Store(state_dir(args)) as store:
        deliveries = store.deliveries(args.automation, limit=args.limit)
    if args.output == "json":
        print(json.dumps([{
            "id": d.id, "time": datetime.fromtimestamp(d.at, UTC).isoformat(), "automation": d.automation,
            "repository": d.repository_url, "commit": d.commit, "branch": d.branch,
            "pullRequest": d.pull_request_url, "changes": d.changes,
        } for d in deliveries], indent=2))
        return 0
    if not deliveries:
        print("no deliveries recorded")
    for d in deliveries:
        when = datetime.fromtimestamp(d.at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{when}  {d.automation}  {(d.commit or '')[:12]} -> {d.branch}"
              + (f"  {d.pull_request_url}" if d.pull_request_url else ""))
        for change in d.changes:
            print(f"    {change['file']}: {change['old']} -> {change['new']}")
    return 0
