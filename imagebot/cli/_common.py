"""Options shared by the commands that read policy files."""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebot.config import Config
    from imagebot.config.selector import LabelSelector
    from imagebot.scan import Scanner, ScanReport


def started() -> None:
    """The end of a short command's start-up (its imports and config loaded): the cyclic garbage
    collector, off since main() began, runs again, and leaves alone what start-up made (gc.freeze):
    those objects live until the process ends, and walking them on every collection found nothing."""
    gc.freeze()
    gc.enable()


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", required=True, type=Path, metavar="PATH",
        help="a policy file or a folder of them (searched recursively for *.yaml and *.yml)",
    )
    parser.add_argument(
        "--secrets-dir", type=Path, default=None, metavar="DIR",
        help="folder of secrets, one folder per secret and one file per key "
        "(env IMAGEBOT_SECRETS_DIR)",
    )
    parser.add_argument(
        "--watch-label-selector", default=None, metavar="SELECTOR",
        help="handle only the ImageRepositories, ImagePolicies and ImageUpdateAutomations whose labels match, as "
        "Flux's sharding does, e.g. 'sharding.fluxcd.io/key in (shard1)' (env IMAGEBOT_WATCH_LABEL_SELECTOR)",
    )


def add_state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", type=Path, default=None, metavar="DIR",
        help="where imagebot keeps its database and clones (env IMAGEBOT_STATE_DIR, default .imagebot)",
    )


def secrets_dir(args: argparse.Namespace) -> Path | None:
    if args.secrets_dir is not None:
        return args.secrets_dir
    env = os.environ.get("IMAGEBOT_SECRETS_DIR")
    return Path(env) if env else None


def state_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None) is not None:
        return args.state_dir
    return Path(os.environ.get("IMAGEBOT_STATE_DIR") or ".imagebot")


def label_selector(args: argparse.Namespace) -> LabelSelector | None:
    """The `--watch-label-selector` (or its env), parsed; raises SelectorError for bad syntax."""
    from imagebot.config.selector import parse_selector

    text = getattr(args, "watch_label_selector", None) or os.environ.get("IMAGEBOT_WATCH_LABEL_SELECTOR")
    return parse_selector(text) if text else None


def load_or_report(args: argparse.Namespace) -> Config | None:
    """The config of `-c` (this shard's part with --watch-label-selector), or None after printing every
    error (the caller exits 1)."""
    import sys

    from imagebot.config import load_config

    selector = None
    if getattr(args, "watch_label_selector", None) or os.environ.get("IMAGEBOT_WATCH_LABEL_SELECTOR"):
        from imagebot.config.selector import SelectorError

        try:
            selector = label_selector(args)
        except SelectorError as err:
            print(f"error: --watch-label-selector: {err}", file=sys.stderr)
            return None
    # Secrets are read (and fail) per object when used: a missing one costs that repository or
    # automation, not the whole run. `imagebot validate --secrets-dir` checks them all up front.
    loaded = load_config(args.config)
    errors = loaded.errors
    config = loaded.config
    if selector is not None and not errors:
        from imagebot.config.selector import shard

        config, errors = shard(config, selector)
    for problem in errors:
        print(f"error: {problem}", file=sys.stderr)
    return None if errors else config


async def scan_once(args: argparse.Namespace, scanner: Scanner, **kwargs: Any) -> ScanReport:
    """One scan cycle with a registry client configured from the command line."""
    from imagebot.registry import RegistryClient

    async with RegistryClient(concurrency_per_host=args.registry_concurrency, ca_file=args.ca_file) as client:
        return await scanner.scan(client, **kwargs)
