"""`imagebot plan`: scan, select, and print the diff each automation would commit, writing nothing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from imagebot.cli._common import (
    add_config_options,
    add_state_option,
    load_or_report,
    scan_once,
    secrets_dir,
    started,
    state_dir,
)
from imagebot.cli.scan import add_registry_options


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan", help="print the diff each ImageUpdateAutomation would commit, writing nothing",
        description="Scan registries, select each policy's latest image and print the unified diff every "
        "ImageUpdateAutomation would commit, against --repo DIR or a checkout of its GitRepository. "
        "Exit 0 (2 with --exit-code when there are changes), 1 on errors.",
    )
    add_config_options(parser)
    add_state_option(parser)
    add_registry_options(parser)
    parser.add_argument("--repo", type=Path, default=None, metavar="DIR",
                        help="a working copy to diff against instead of checking out each GitRepository")
    parser.add_argument("--exit-code", action="store_true", help="exit 2 when there are changes (for CI)")
    parser.set_defaults(handler=run, starts_itself=True)  # started() once loaded: see cli/__init__


def run(args: argparse.Namespace) -> int:
    from imagebot.config import SecretStore
    from imagebot.cycle import AutomationError
    from imagebot.scan import Scanner
    from imagebot.store import Store
    from imagebot.update import unified_diff

    if args.repo is not None and not args.repo.is_dir():
        what = "is not a folder" if args.repo.exists() else "does not exist"
        print(f"imagebot plan: --repo {args.repo} {what}", file=sys.stderr)
        return 1
    config = load_or_report(args)
    if config is None:
        return 1
    import imagebot.registry._client  # noqa: F401  (the scan's: loaded before started())

    started()
    secrets = SecretStore(secrets_dir(args))
    folder = state_dir(args)
    with Store(folder) as store:
        report = asyncio.run(scan_once(args, Scanner(config, secrets, store)))
    failed = not report.ok
    for result in report.policies:
        if result.error:
            print(f"error: ImagePolicy {result.policy.key}: {result.error}", file=sys.stderr)
        elif result.waits:  # minimumAge: "1.5.0 waits until <time> (minimumAge 72h)"
            print(f"# ImagePolicy {result.policy.key}: {result.waits}", file=sys.stderr)
        if result.note:
            print(f"warning: ImagePolicy {result.policy.key}: {result.note}", file=sys.stderr)
    for repo in report.repositories:
        if repo.error:
            print(f"error: ImageRepository {repo.repository.key}: {repo.error}", file=sys.stderr)
    changed = False
    for automation in config.automations:
        name = f"ImageUpdateAutomation {automation.key}"
        if automation.spec.suspend:
            print(f"# {name}: suspended", file=sys.stderr)
            continue
        try:
            if args.repo is not None:
                result = _plan(config, automation, report, args.repo.resolve())
            else:
                result = _plan_checkout(config, automation, report, secrets, folder / "git")
        except (AutomationError, LookupError, OSError, ValueError) as err:
            print(f"error: {name}: {err}", file=sys.stderr)
            failed = True
            continue
        for note in result.notes:
            print(f"# {name}: {note}", file=sys.stderr)
        if result.files:
            changed = True
            print(f"# {name}: {len(result.changes)} change(s) in {len(result.files)} file(s)"
                  + _window_note(automation))
            sys.stdout.write(unified_diff(result))
        else:
            print(f"# {name}: nothing to do")
    if failed:
        return 1
    return 2 if changed and args.exit_code else 0


def _window_note(automation: Any) -> str:
    """", waiting for window ..." when the automation's delivery windows are closed now."""
    if not automation.spec.schedule:  # before the imports: cron parsing (APScheduler) costs a tenth of a second
        return ""
    from datetime import UTC, datetime

    from imagebot.cli.run import window_phrase
    from imagebot.cycle.window import window_state

    state = window_state(automation.spec.schedule, datetime.now(UTC))
    return "" if state.open else f", waiting for window ({window_phrase(state.opens_at)})"


def _plan(config: Any, automation: Any, report: Any, workdir: Path) -> Any:
    from imagebot.cycle import apply_policies, policy_values

    return apply_policies(workdir, automation, policy_values(config, automation, report), write=False)


def _plan_checkout(config: Any, automation: Any, report: Any, secrets: Any,
                   cache: Path) -> Any:
    """The plan against a (locked) checkout of the automation's GitRepository."""
    from imagebot.cycle import AutomationError, git_source
    from imagebot.delivery.git import Checkout, GitError
    from imagebot.failures import FailureKind

    try:
        with Checkout.locked(cache, git_source(config, automation, secrets)) as checkout:
            return _plan(config, automation, report, checkout.workdir)
    except GitError as err:
        raise AutomationError(FailureKind.GIT, str(err)) from None

