"""`imagebot set PATH NS:NAME=IMAGE[:TAG][@DIGEST] ...`: write given images into the marked fields."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_EPILOG = """\
Markers are Flux's: a comment `# {"$imagepolicy": "NS:NAME"}` after a value (or directly above a
sequence item) gets IMAGE:TAG[@DIGEST]; "NS:NAME:tag", ":name" and ":digest" get that part only.
Only the bytes of the replaced values change. Exit status: 0 done (with or without changes),
1 a value was refused, a file could not be updated, or a policy given matched no marker, 2 bad usage.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "set",
        help="write images into the fields marked for their policies, byte-exact",
        description="Apply the given images to the $imagepolicy markers under PATH, changing only "
        "the bytes of the marked values. For CI pipelines that just pushed an image.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="a folder of manifests or one file")
    parser.add_argument(
        "values", nargs="+", metavar="NS:NAME=IMAGE[:TAG][@DIGEST]",
        help="a policy and the image it now selects (NAME alone uses --namespace)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print a unified diff, write nothing")
    parser.add_argument(
        "-n", "--namespace", default="default", metavar="NS",
        help="namespace of policies named without one, here and in markers (default: default)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from imagebot.update import PolicyValue, apply_updates, parse_reference, unified_diff

    if not args.path.exists():
        print(f"imagebot set: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    values: dict[str, PolicyValue] = {}
    for item in args.values:
        policy, sep, reference = item.partition("=")
        if not sep or not policy or not reference or policy.count(":") > 1:
            print(f"imagebot set: {item!r}: expected NS:NAME=IMAGE[:TAG][@DIGEST]", file=sys.stderr)
            return 2
        if ":" not in policy:
            policy = f"{args.namespace}:{policy}"
        try:
            values[policy] = parse_reference(reference)
        except ValueError as err:
            # A value that is not a valid reference is refused, never written.
            print(f"imagebot set: refused {policy}: {err}", file=sys.stderr)
            return 1

    result = apply_updates(args.path, values, default_namespace=args.namespace, write=not args.dry_run)

    if args.dry_run:
        sys.stdout.write(unified_diff(result))
    else:
        base = args.path if args.path.is_dir() else args.path.parent
        for file in result.files:
            print((base / file.path).as_posix())
    unknown = sorted({n.policy for n in result.notes if n.code == "unknown-policy"})
    for note in result.notes:
        if note.code != "unknown-policy":
            print(f"imagebot set: {note}", file=sys.stderr)
    if unknown:
        print(
            f"imagebot set: markers for other policies left alone: {', '.join(unknown)}", file=sys.stderr
        )
    # An argument that no marker names would change nothing: in a pipeline that is a silent no-op.
    unmatched = [policy for policy in values if policy not in result.marked]
    for policy in unmatched:
        print(f"imagebot set: no marker under {args.path} names {policy}{_known(policy, result.marked)}",
              file=sys.stderr)
    return 0 if result.ok and not unmatched else 1


def _known(policy: str, marked: set[str]) -> str:
    """The policies that markers do name, the closest to `policy` first."""
    import difflib

    if not marked:
        return ": there are no $imagepolicy markers there"
    ranked = sorted(marked, key=lambda m: (-difflib.SequenceMatcher(None, policy, m).ratio(), m))
    shown = ", ".join(ranked[:10]) + (f", ... ({len(ranked)} in all)" if len(ranked) > 10 else "")
    return f": markers there name {shown}"
