"""`imagebot policy eval`: run one ImagePolicy over a list of tags, from flags or from policy files.

Exit codes: 0 a tag was selected (printed alone on stdout), 1 no tag qualifies (why on stderr),
2 the policy (or its file) is invalid.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

EXIT_SELECTED, EXIT_NONE, EXIT_INVALID = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("policy", help="evaluate image policies against tag lists")
    group.set_defaults(handler=lambda args: _usage(group))
    commands = group.add_subparsers(dest="policy_command", metavar="COMMAND")
    parser = commands.add_parser(
        "eval",
        help="select the newest tag of a list (stdin, one a line) with a policy",
        description="Select the newest tag with an ImagePolicy. Tags are read from stdin, one a line, or from "
        "--tags-file. The selected tag is printed alone on stdout (exit 0); when no tag qualifies the reason "
        "goes to stderr (exit 1); an invalid policy exits 2.",
    )
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--semver", metavar="RANGE",
        help="a Masterminds semver range, e.g. '>=1.0.0 <2'; as in Flux 2.7+, a tag with two dots is a version",
    )
    kind.add_argument("--alphabetical", choices=("asc", "desc"), help="byte-wise order; asc picks the greatest")
    kind.add_argument("--numerical", choices=("asc", "desc"), help="tags as numbers; asc picks the greatest")
    kind.add_argument("--newest-build", action="store_true",
                      help="the tag built last, by the times of the tags file (TAG<TAB>RFC3339 lines)")
    kind.add_argument(
        "-f", "--file", type=Path, metavar="FILE",
        help="take the ImagePolicy (and its ImageRepository's exclusionList) from policy files",
    )
    parser.add_argument("--policy", metavar="[NAMESPACE/]NAME", help="with -f: which ImagePolicy, if several")
    parser.add_argument("--loose", action="store_true", help="semver: also read 16, 3.19, v16 as versions")
    parser.add_argument(
        "--filter-pattern", metavar="RE", help="keep tags this Go regexp (RE2 syntax) matches (unanchored)"
    )
    parser.add_argument(
        "--filter-extract", metavar="EXPR",
        help="rank by this expansion of the pattern's groups, e.g. '$ts' or '${1}'; naming a missing group exits 2",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="RE", help="drop tags matching RE (repeatable)"
    )
    parser.add_argument("--minimum-age", metavar="DURATION",
                        help="a tag qualifies once its time (second column) is this old, e.g. 72h")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                        help="a tag qualifies only if it serves this platform (third column; repeatable)")
    parser.add_argument("--now", metavar="RFC3339", help="the time minimumAge counts to (default: now)")
    parser.add_argument(
        "--tags-file", type=Path, metavar="FILE",
        help="read tags from FILE instead of stdin; a line is TAG, or TAG<TAB>RFC3339 (its build time, also taken "
             "as when it appeared), optionally <TAB>os/arch,os/arch (the platforms its image serves)")
    parser.add_argument("--explain", action="store_true", help="list every tag with what happened to it")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people (default) or json for scripts")
    parser.set_defaults(handler=_eval)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_INVALID


def _eval(args: argparse.Namespace) -> int:
    from imagebot.policy import PolicyError

    try:
        policy = _policy_from_file(args) if args.file is not None else _policy_from_flags(args)
    except PolicyError as err:
        print(f"imagebot policy eval: invalid policy: {err}", file=sys.stderr)
        return EXIT_INVALID
    except _Invalid as err:
        print(f"imagebot policy eval: {err}", file=sys.stderr)
        return EXIT_INVALID
    try:
        tags, times, platforms = _read_tags(args.tags_file)
        now = _time(args.now, "--now") if args.now else datetime.now(UTC)
    except OSError as err:
        print(f"imagebot policy eval: cannot read tags: {err}", file=sys.stderr)
        return EXIT_INVALID
    except _Invalid as err:
        print(f"imagebot policy eval: {err}", file=sys.stderr)
        return EXIT_INVALID

    if policy.newest_build:
        policy = policy.with_created(times)
    if args.explain or args.output == "json" or policy.gates:
        from imagebot.policy.gates import format_time, gate_verdicts

        verdicts = gate_verdicts(policy.explain(tags), policy.gates, now, times, platforms)
        if policy.newest_build:  # what ranked them
            for verdict in verdicts:
                if verdict.rank is not None and verdict.tag in times:
                    verdict.detail = f"built {format_time(times[verdict.tag])}"
        selected = verdicts[0].tag if verdicts and verdicts[0].rank == 1 else None
    else:
        verdicts = None
        selected = policy.latest(tags)

    if args.output == "json":
        import json

        document = {"policy": policy.describe(), "selected": selected}
        if args.explain:
            document["verdicts"] = [v.as_dict() for v in verdicts]
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif args.explain:
        _print_explanation(verdicts)
    elif selected is not None:
        sys.stdout.write(selected + "\n")

    if selected is None:
        why = _why_none(verdicts or policy.explain(tags), tags)
        print(f"imagebot policy eval: no tag qualifies ({policy.describe()}): {why}", file=sys.stderr)
        return EXIT_NONE
    return EXIT_SELECTED


class _Invalid(Exception):
    """A usage or policy-file problem, reported on stderr with exit code 2."""


def _policy_from_flags(args: argparse.Namespace):  # -> imagebot.policy.Policy
    from imagebot.config.durations import parse_duration
    from imagebot.policy import PolicyError, build_policy

    if args.policy is not None:
        raise _Invalid("--policy selects an ImagePolicy from -f FILE; it needs -f")
    if args.loose and args.semver is None:
        raise PolicyError("--loose applies to --semver only")
    return build_policy(
        semver=args.semver,
        strict=not args.loose,
        alphabetical=args.alphabetical,
        numerical=args.numerical,
        filter_pattern=args.filter_pattern,
        filter_extract=args.filter_extract,
        exclusions=tuple(args.exclude),
        newest_build=args.newest_build,
        minimum_age=_age(args.minimum_age, parse_duration),
        platforms=tuple(args.platform),
    )


def _age(text: str | None, parse) -> timedelta | None:  # parse: imagebot.config.durations.parse_duration
    if text is None:
        return None
    try:
        return timedelta(seconds=parse(text))
    except ValueError as err:
        raise _Invalid(f"--minimum-age: {err}") from None


def _policy_from_file(args: argparse.Namespace):  # -> imagebot.policy.Policy
    flags = [flag for flag, value in (("--loose", args.loose), ("--filter-pattern", args.filter_pattern),
                                      ("--filter-extract", args.filter_extract), ("--exclude", args.exclude),
                                      ("--minimum-age", args.minimum_age), ("--platform", args.platform))
             if value]
    if flags:
        raise _Invalid(f"{', '.join(flags)} cannot be combined with -f: the policy file defines the policy")
    from imagebot.cli._common import secrets_dir
    from imagebot.config import load_config

    args.secrets_dir = None
    loaded = load_config(args.file, secrets_dir(args))
    errors = [p for p in loaded.problems if p.level == "error"]
    unreadable = [p for p in errors if p.object is None]  # a file that does not parse
    if unreadable:
        raise _Invalid("invalid policy file:\n" + "\n".join(f"  {p}" for p in unreadable))
    policies = loaded.config.policies
    if args.policy is not None:
        wanted = args.policy
        policies = [p for p in policies if wanted in (p.metadata.name, _key(p))]
        if not policies:
            names = ", ".join(_key(p) for p in loaded.config.policies) or "none"
            raise _Invalid(f"no ImagePolicy {wanted!r} in {args.file} (found: {names})")
    if not policies:
        raise _Invalid(f"no ImagePolicy in {args.file}")
    if len(policies) > 1:
        names = ", ".join(_key(p) for p in policies)
        raise _Invalid(f"{args.file} holds several ImagePolicies ({names}): choose one with --policy NAME or NS/NAME")
    policy = policies[0]
    repository = loaded.config.repository_for(policy)
    if repository is None:
        print(f"imagebot policy eval: note: {_key(policy)} has no ImageRepository in {args.file}; "
              "no exclusionList applies", file=sys.stderr)
    # Only problems of this policy and its repository matter here; credentials play no part in selection.
    concerned = {policy.describe(), repository.describe() if repository else None}
    relevant = [
        p for p in errors
        if p.object in concerned and p.field not in ("spec.imageRepositoryRef",)
        and "secretref" not in (p.field or "").lower()
    ]
    if relevant:
        raise _Invalid("invalid policy file:\n" + "\n".join(f"  {p}" for p in relevant))
    return policy.compile(repository)


def _key(policy) -> str:  # an ImagePolicy
    return f"{policy.metadata.namespace}/{policy.metadata.name}"


_MAX_TAG_LINES = 1_000_000  # a registry listing is bounded at 500,000 tags; the same order here
_MAX_TAG_BYTES = 256 << 20  # a million lines of a 128-character tag, its time and a few platforms


def _read_tags(path: Path | None):  # -> (tags, {tag: time}, {tag: [Platform]})
    """TAG, or TAG<TAB>RFC3339, optionally <TAB>os/arch,os/arch; a bad time or platform names its line.

    Tags alone, one a line, come back as a TagLines (the text as it is, searched without splitting it);
    other files as a list."""
    from imagebot.policy import PolicyError
    from imagebot.policy.gates import Platform
    from imagebot.policy.taglines import TagLines

    where = str(path) if path is not None else "stdin"
    if path is None:
        data = sys.stdin.buffer.read(_MAX_TAG_BYTES + 1)
    else:
        with path.open("rb") as file:
            data = file.read(_MAX_TAG_BYTES + 1)
    if len(data) > _MAX_TAG_BYTES:
        raise _Invalid(f"{where}: more than {_MAX_TAG_BYTES >> 20} MiB")
    text = data.decode("utf-8", "surrogateescape")
    tags: list[str] = []
    times: dict[str, datetime] = {}
    platforms: dict[str, list] = {}
    if "\t" not in text:  # tags alone, the common case: no per-line fields (100,000 tags)
        # In ASCII without spaces every whitespace character ends a line, and a line is its tag.
        if text.isascii() and " " not in text and "\x1f" not in text:
            if not any(map(text.__contains__, "\r\v\f\x1c\x1d\x1e")):  # lines end in \n alone
                # Kept as the text (a TagLines): only the tags a policy keeps become strings. A line
                # holds at least its \n, so lines are counted only when there may be too many.
                if len(text) > _MAX_TAG_LINES and text.count("\n") + (not text.endswith("\n")) > _MAX_TAG_LINES:
                    raise _Invalid(f"{where}: more than {_MAX_TAG_LINES} lines")
                return TagLines(text), times, platforms
            if sum(text.count(c) for c in "\n\r\v\f\x1c\x1d\x1e" if c in text) < _MAX_TAG_LINES:
                return text.split(), times, platforms  # split() gives the stripped, non-empty lines
        lines = text.splitlines()
        if len(lines) > _MAX_TAG_LINES:
            raise _Invalid(f"{where}: more than {_MAX_TAG_LINES} lines")
        return [tag for tag in map(str.strip, lines) if tag], times, platforms
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        if number > _MAX_TAG_LINES:
            raise _Invalid(f"{where}: more than {_MAX_TAG_LINES} lines")
        fields = raw.strip().split("\t")
        tag = fields[0].strip()
        if not tag:
            continue
        if len(fields) > 3:
            raise _Invalid(f"{where}:{number}: expected TAG[<TAB>RFC3339[<TAB>PLATFORMS]], got {len(fields)} fields")
        tags.append(tag)
        if len(fields) > 1 and fields[1].strip():
            times[tag] = _time(fields[1].strip(), f"{where}:{number}")
        if len(fields) > 2:
            try:
                platforms[tag] = [Platform.parse(p.strip()) for p in fields[2].split(",") if p.strip()]
            except PolicyError as err:
                raise _Invalid(f"{where}:{number}: {err}") from None
    return tags, times, platforms


def _time(text: str, where: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(f"{where}: {text[:60]!r} is not an RFC 3339 time such as 2026-03-01T12:00:00Z") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _print_explanation(verdicts) -> None:  # list[Verdict]
    width = max((len(v.tag) for v in verdicts), default=0)
    lines = []
    for v in verdicts:
        outcome = f"{v.outcome.value} #{v.rank}" if v.outcome.value == "ranked" else v.outcome.value
        lines.append(f"{v.tag:<{width}}  {outcome:<14}  {v.detail}".rstrip())
    sys.stdout.write("".join(line + "\n" for line in lines))


def _why_none(verdicts, tags: list[str]) -> str:  # list[Verdict]
    if not tags:
        return "no tags were given"
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict.outcome.value] = counts.get(verdict.outcome.value, 0) + 1
    summary = ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(counts.items()))
    return f"{len(set(tags))} distinct tags: {summary} (run with --explain for each tag)"
