"""`imagebot validate`: report every problem in the policy files at once."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from imagebot.cli._common import add_config_options, label_selector, secrets_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="check policy files and report every problem at once",
        description="Read every policy file and check it against Flux's schemas, imagebot's extensions, "
        "references, commit templates and (with --secrets-dir) what each secret holds; with secrets, print "
        "each Receiver's webhook path. Exit 1 when there is any error.",
    )
    add_config_options(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text: problems on stderr and a summary line (default); json: objects and problems")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imagebot.config import LoadedConfig, load_config
    from imagebot.config.selector import SelectorError, shard

    try:
        selector = label_selector(args)
    except SelectorError as err:
        print(f"error: --watch-label-selector: {err}", file=sys.stderr)
        return 1
    folder = secrets_dir(args)
    loaded = load_config(args.config, folder)
    if selector is not None:  # this shard's objects, and its references to other shards
        part, crossing = shard(loaded.config, selector)
        loaded = LoadedConfig(part, [*loaded.problems, *crossing])
    hooks = _webhook_paths(loaded.config, folder)
    if args.output == "json":
        print(json.dumps({
            "objects": [{"kind": o.kind, "namespace": o.metadata.namespace, "name": o.metadata.name,
                         "file": o.origin.file if o.origin else None} for o in loaded.config.objects()],
            "problems": [{"file": p.file, "line": p.line, "object": p.object, "field": p.field,
                          "message": p.message, "level": p.level} for p in loaded.problems],
            "receivers": [{"namespace": ns, "name": name, "path": path} for ns, name, path in hooks],
        }, indent=2))
    else:
        for problem in loaded.problems:
            print(f"{problem.level}: {problem}", file=sys.stderr)
        for namespace, name, path in hooks:
            print(f"Receiver {namespace}/{name}: webhook path {path}")
        counts: dict[str, int] = {}
        for obj in loaded.config.objects():
            counts[obj.kind] = counts.get(obj.kind, 0) + 1
        # Invalid objects are not counted: "no objects" beside errors would read as an empty folder.
        none = "no valid objects" if loaded.errors else "no objects"
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or none
        verdict = f"{len(loaded.errors)} error(s)" if loaded.errors else "valid"
        print(f"{args.config}: {summary}: {verdict}")
    return 1 if loaded.errors else 0


def _webhook_paths(config: Any, folder: Path | None) -> list[tuple[str, str, str]]:
    """(namespace, name, /hook/...) of each Receiver whose token could be read: the URL path to give the
    sender, computed as Flux does, so nobody hashes it by hand."""
    from imagebot.config import SecretError, SecretStore
    from imagebot.service.receivers import hook_path

    if folder is None:
        return []
    secrets = SecretStore(folder)
    found = []
    for receiver in config.receivers:
        try:
            token = secrets.read_text(receiver.spec.secret_ref.name, "token")
        except SecretError:
            continue  # reported as a problem already
        meta = receiver.metadata
        found.append((meta.namespace, meta.name, hook_path(token, meta.name, meta.namespace)))
    return found
