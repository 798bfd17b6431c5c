"""Options shared by the commands that read policy files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


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
