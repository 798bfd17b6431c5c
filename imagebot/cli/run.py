"""`imagebot run`: the whole cycle once (`--once`, for CI) or continuously as a service."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebot.cli._common import (
    add_config_options,
    add_state_option,
    label_selector,
    load_or_report,
    scan_once,
    secrets_dir,
    state_dir,
)
from imagebot.cli.scan import add_registry_options

if TYPE_CHECKING:
    from imagebot.cycle import CycleResult
    from imagebot.notify import Dispatcher
    from imagebot.service.ui import UiSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="scan, update, commit, push and open pull requests (once, or as a service)",
        description="Run every ImageUpdateAutomation: scan -> select -> update -> commit -> push -> pull request "
        "-> record. With --once, exit 0 when every automation succeeded (including nothing to do), 1 otherwise.",
    )
    add_config_options(parser)
    add_state_option(parser)
    add_registry_options(parser)
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    parser.add_argument("--ignore-schedule", action="store_true",
                        help="with --once: deliver now even outside an automation's delivery windows (spec.schedule)")
    parser.add_argument("--listen", default="127.0.0.1:9090", metavar="HOST:PORT",
                        help="service mode: address of /hook/, /status, /healthz, /readyz and /metrics "
                        "(default %(default)s)")
    parser.add_argument("--health-listen", default=None, metavar="HOST:PORT",
                        help="service mode: a second address serving only /healthz, /readyz and /metrics, with "
                        "its own connection limit, so webhook traffic can never fail a probe (default: none)")
    parser.add_argument("--ui-token-file", type=Path, default=None, metavar="FILE",
                        help="service mode: a file holding the status page's operator token (16 characters or "
                        "more); logging in with it turns on the page's 'scan now' and 'run now' buttons "
                        "(default: the buttons are off)")
    parser.add_argument("--ui-token-secret", default=None, metavar="NAME",
                        help="service mode: as --ui-token-file, from key 'token' of secret NAME in --secrets-dir")
    parser.add_argument("--ui-auth", choices=("actions", "all"), default="actions",
                        help="service mode: what on the status page needs a login: only the buttons (actions, "
                        "the default), or every page and its JSON too (all; needs a token)")
    parser.add_argument("--min-retry-delay", default="750ms", metavar="DURATION",
                        help="service mode: how long a failed scan or automation run waits before its first retry; "
                        "each further failure doubles it (Flux's flag; default %(default)s)")
    parser.add_argument("--max-retry-delay", default="15m", metavar="DURATION",
                        help="service mode: the longest wait before a retry, and never past the object's next "
                        "interval run (Flux's flag; default %(default)s)")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="with --once: what the cycle did, as text or as one JSON document")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="one log line per event, as text (default) or JSON")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                        help="the least severe events logged (default info)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imagebot.logs import setup_logging

    setup_logging(args.log_format, args.log_level)
    if not args.once:
        if args.ignore_schedule:
            print("error: --ignore-schedule applies to run --once only; the service keeps every window",
                  file=sys.stderr)
            return 1
        return serve(args)
    return run_once(args)


def serve(args: argparse.Namespace) -> int:
    """The service, with its options taken from the command line (the service knows no argparse)."""
    from imagebot.config.durations import parse_duration
    from imagebot.config.selector import SelectorError
    from imagebot.service.main import Listen, serve
    from imagebot.service.runtime import ServiceOptions

    addresses = []
    for option, text in (("--listen", args.listen), ("--health-listen", args.health_listen)):
        try:
            addresses.append(Listen.parse(text) if text is not None else None)
        except ValueError as err:
            print(f"error: {option} {err}", file=sys.stderr)
            return 1
    listen, health_listen = addresses
    assert listen is not None
    try:
        selector = label_selector(args)
    except SelectorError as err:
        print(f"error: --watch-label-selector: {err}", file=sys.stderr)
        return 1
    delays = []
    for option, text in (("--min-retry-delay", args.min_retry_delay), ("--max-retry-delay", args.max_retry_delay)):
        try:
            delays.append(parse_duration(text))
        except ValueError as err:
            print(f"error: {option}: {err}", file=sys.stderr)
            return 1
    try:
        options = ServiceOptions(
            config_path=args.config, secrets_dir=secrets_dir(args), state_dir=state_dir(args),
            registry_concurrency=args.registry_concurrency, ca_file=args.ca_file, label_selector=selector,
            min_retry_delay=delays[0], max_retry_delay=delays[1],
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        ui = ui_settings(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return serve(options, listen, health_listen, ui=ui)


def ui_settings(args: argparse.Namespace) -> UiSettings:
    """The status page's settings from --ui-token-file / --ui-token-secret and --ui-auth; ValueError
    says what is wrong (never with the token in it)."""
    from imagebot.config import SecretError, SecretStore
    from imagebot.redact import register_secrets
    from imagebot.service.ui import PageAccess, UiSettings

    if args.ui_token_file is not None and args.ui_token_secret is not None:
        raise ValueError("--ui-token-file and --ui-token-secret both name a token: give one")
    token = None
    if args.ui_token_file is not None:
        try:
            token = args.ui_token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"--ui-token-file {args.ui_token_file}: cannot read it "
                             f"({getattr(err, 'strerror', None) or err})") from None
        register_secrets([token])
        where = f"--ui-token-file {args.ui_token_file}"
    elif args.ui_token_secret is not None:
        try:
            token = SecretStore(secrets_dir(args)).read_text(args.ui_token_secret, "token")
        except (SecretError, UnicodeDecodeError) as err:
            raise ValueError(f"--ui-token-secret: {err}") from None
        where = f"--ui-token-secret {args.ui_token_secret}"
    try:
        return UiSettings(token=token, access=PageAccess(args.ui_auth))
    except ValueError as err:
        raise ValueError(f"{where}: {err}" if token is not None else str(err)) from None


def run_once(args: argparse.Namespace) -> int:
    from imagebot.alerts import build_dispatcher
    from imagebot.config import SecretError, SecretStore
    from imagebot.cycle import run_automations, scan_events
    from imagebot.notify import NotifyConfigError
    from imagebot.release.lookup import ReleaseFinder
    from imagebot.scan import Scanner
    from imagebot.store import Store

    config = load_or_report(args)
    if config is None:
        return 1
    secrets = SecretStore(secrets_dir(args))
    folder = state_dir(args)

    try:
        dispatcher: Dispatcher | None = build_dispatcher(config, secrets)
    except (NotifyConfigError, SecretError) as err:
        # Deliveries matter more than their notifications: run the cycle, but fail the run.
        print(f"error: notifications are off for this run: {err}", file=sys.stderr)
        dispatcher = None

    async def cycle() -> CycleResult:
        from imagebot.cycle import CycleResult

        with Store(folder) as store:
            report = await scan_once(args, Scanner(config, secrets, store))
            if dispatcher is not None:
                for event in scan_events(report):
                    dispatcher.dispatch(event)
            outcomes = await run_automations(config, report, secrets, store, folder, dispatcher=dispatcher,
                                             ignore_schedule=args.ignore_schedule,
                                             releases=ReleaseFinder(config, secrets, ca_file=args.ca_file))
            if dispatcher is not None:  # with the store open: a finished send marks its delivery notified
                await dispatcher.drain(timeout=30)
        return CycleResult(report, outcomes)

    result = asyncio.run(cycle())
    if args.output == "json":
        print(json.dumps(cycle_json(result), indent=2))
    else:
        print_cycle(result)
    return 0 if result.ok and dispatcher is not None else 1


def cycle_json(result: CycleResult) -> dict[str, Any]:
    """The scan's JSON (as `imagebot scan --output json`) plus what each automation did."""
    from imagebot.update.changes import object_label

    document = result.report.to_json()
    document["automations"] = [
        {
            "namespace": o.automation.metadata.namespace, "name": o.automation.metadata.name, "status": o.status,
            "repository": o.repository_url, "commit": o.commit, "branch": o.branch,
            "pullRequest": o.pull_request_url, "error": o.error,
            "windowOpens": o.window_opens.isoformat() if o.window_opens else None,
            "changes": [{"file": c.file, "object": object_label(c.object), "old": c.old_value,
                         "new": c.new_value, "setter": c.setter} for c in (o.result.changes if o.result else [])]
            if o.status in ("committed", "waiting", "awaiting-approval") else [],
            **({"approval": o.approval.pending.id} if o.approval and o.approval.pending else {}),
            "notes": [str(n) for n in o.notes],
        }
        for o in result.outcomes
    ]
    return document


def window_phrase(opens: datetime | None) -> str:
    """When a closed delivery window opens, as `plan` and `run` say it."""
    return f"window opens {opens.isoformat()}" if opens else "no window ever opens again"


def print_cycle(result: CycleResult) -> None:
    for repo in result.report.repositories:
        if repo.error:
            print(f"ImageRepository {repo.repository.key}: error: {repo.error}")
    for policy in result.report.policies:
        if policy.error:
            print(f"ImagePolicy {policy.policy.key}: error: {policy.error}")
        elif policy.latest:
            print(f"ImagePolicy {policy.policy.key}: {policy.latest.name}:{policy.latest.tag}"
                  + (f"@{policy.latest.digest}" if policy.latest.digest else ""))
    for outcome in result.outcomes:
        name = f"ImageUpdateAutomation {outcome.automation.key}"
        for note in outcome.notes:
            print(f"{name}: {note}")  # a Note names its own level (warning, error)
        if outcome.status == "failed" and outcome.commit and outcome.pushed:
            print(f"{name}: pushed {outcome.commit[:12]} to {outcome.branch}, then failed: {outcome.error}")
        elif outcome.status == "failed":
            print(f"{name}: failed: {outcome.error}")
        elif outcome.status == "committed":
            changes = outcome.result.changes if outcome.result else []
            retried = f", pushed on attempt {outcome.attempts}: the remote had moved" if outcome.attempts > 1 else ""
            print(f"{name}: committed {outcome.commit[:12] if outcome.commit else ''} to {outcome.branch} "
                  f"({len(changes)} change(s){retried})")
            for change in changes:
                print(f"  {change.file}:{change.line}: {change.old_value} -> {change.new_value}")
        elif outcome.status == "waiting":
            changes = outcome.result.changes if outcome.result else []
            print(f"{name}: waiting for window: {len(changes)} change(s) pending, "
                  f"{window_phrase(outcome.window_opens)}")
            for change in changes:
                print(f"  {change.file}:{change.line}: {change.old_value} -> {change.new_value}")
        elif outcome.status == "awaiting-approval" and outcome.approval and outcome.approval.pending:
            request = outcome.approval.pending
            changes = outcome.result.changes if outcome.result else []
            print(f"{name}: awaiting approval #{request.id} ({len(changes)} change(s)): "
                  f"imagebot approve {request.id}, or reject it")
            for change in changes:
                print(f"  {change.file}:{change.line}: {change.old_value} -> {change.new_value}")
        elif outcome.status == "unchanged" and outcome.commit:
            print(f"{name}: unchanged ({outcome.branch} already holds this change)")
        else:
            print(f"{name}: {outcome.status}" + (" (nothing to do)" if outcome.status == "unchanged" else ""))
        if outcome.pull_request_url:
            print(f"  pull request: {outcome.pull_request_url}")
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    failed_scans = sum(1 for r in result.report.repositories if r.error)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no automations"
    if failed_scans:
        summary += f"; {failed_scans} repositor{'y' if failed_scans == 1 else 'ies'} could not be scanned"
    print(f"{'ok' if result.ok else 'FAILED'}: {summary}")
