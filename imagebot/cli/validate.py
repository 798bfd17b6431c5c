"""`imagebot validate`: report every problem in the policy files at once."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from imagebot.cli._common import add_config_options, secrets_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="check policy files and report every problem at once",
        description="Read every policy file, check fields, references and (with --secrets-dir) secrets. "
        "Exit 1 when there is any error.",
    )
    add_config_options(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imagebot.config import load_config

    loaded = load_config(args.config, secrets_dir(args))
    if args.output == "json":
        print(json.dumps({
            "objects": [{"kind": o.kind, "namespace": o.metadata.namespace, "name": o.metadata.name,
                         "file": o.origin.file if o.origin else None} for o in loaded.config.objects()],
            "problems": [{"file": p.file, "line": p.line, "object": p.object, "field": p.field,
                          "message": p.message, "level": p.level} for p in loaded.problems],
        }, indent=2))
    else:
        for problem in loaded.problems:
            print(f"{problem.level}: {problem}", file=sys.stderr)
        counts: dict[str, int] = {}
        for obj in loaded.config.objects():
            counts[obj.kind] = counts.get(obj.kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no objects"
        verdict = f"{len(loaded.errors)} error(s)" if loaded.errors else "valid"
        print(f"{args.config}: {summary}: {verdict}")
    return 1 if loaded.errors else 0
