"""`imagebot scan`: list registries, store tags, and show each policy's latest image."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebot.cli._common import (
    add_config_options,
    add_state_option,
    load_or_report,
    scan_once,
    secrets_dir,
    started,
    state_dir,
)

if TYPE_CHECKING:
    from imagebot.scan import ScanReport


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan", help="scan registries and print the latest image of every policy",
        description="List each registry repository once, apply exclusionLists, store the tags and evaluate "
        "every ImagePolicy. Exit 1 when anything failed (the rest is still reported).",
    )
    add_config_options(parser)
    add_state_option(parser)
    add_registry_options(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people (default) or json for scripts")
    parser.set_defaults(handler=run, starts_itself=True)  # started() once loaded: see cli/__init__


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca-file", type=Path, default=None, metavar="FILE",
                        help="extra CA certificates (PEM) trusted for every registry")
    parser.add_argument("--registry-concurrency", type=int, default=8, metavar="N",
                        help="requests in flight per registry host (default 8)")


def run(args: argparse.Namespace) -> int:
    from imagebot.config import SecretStore
    from imagebot.scan import Scanner
    from imagebot.store import Store

    config = load_or_report(args)
    if config is None:
        return 1
    import imagebot.registry._client  # noqa: F401  (the scan's: loaded before started())

    started()
    with Store(state_dir(args)) as store:
        scanner = Scanner(config, SecretStore(secrets_dir(args)), store)
        progress = args.output == "text" and sys.stderr.isatty()
        report = asyncio.run(_with_progress(args, scanner, enabled=progress))
    if args.output == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


async def _with_progress(args: argparse.Namespace, scanner: Any, *, enabled: bool) -> ScanReport:
    if not enabled:
        return await scan_once(args, scanner)
    from rich.progress import Progress

    with Progress(transient=True, console=_console(stderr=True)) as bar:
        task = bar.add_task("scanning", total=None)
        return await scan_once(
            args, scanner, progress=lambda done, total: bar.update(task, completed=done, total=total))


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:  # piped: don't fold image references at 80 columns
        console.width = 200
    return console


def print_report(report: ScanReport) -> None:
    from rich.table import Table

    console = _console()
    repos = Table(title="Image repositories", title_justify="left")
    for col in ("repository", "image", "tags", "status"):
        repos.add_column(col, overflow="fold")
    for r in report.repositories:
        status = "suspended" if r.suspended else ("ok" if r.error is None else f"[red]{r.error}[/red]")
        repos.add_row(r.repository.key, r.repository.spec.image, str(r.tags), status)
    policies = Table(title="Image policies", title_justify="left")
    for col in ("policy", "image", "latest tag", "digest", "status"):
        policies.add_column(col, overflow="fold")
    for p in report.policies:
        status = "ok" if p.error is None else f"[red]{p.error}[/red]"
        if p.error is None and p.waits:  # minimumAge: a better tag comes of age later
            status = f"ok; {p.waits}"
        if p.note:
            status += f" [yellow]{p.note}[/yellow]"
        if p.latest is None:
            policies.add_row(p.policy.key, "-", "-", "-", status)
            continue
        digest = p.latest.digest[:19] + "…" if p.latest.digest else "-"
        policies.add_row(p.policy.key, p.latest.name, p.latest.tag, digest, status)
    console.print(repos)
    console.print(policies)
    console.print(f"{len(report.repositories)} repositories, {len(report.policies)} policies, "
                  f"{report.requests} registry requests in {report.seconds:.2f}s")
