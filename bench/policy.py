"""Benchmark of the policy engine: selection from 100,000 real-looking tags.

Run: .venv/bin/python bench/policy.py   (writes bench/results/policy.txt)

The tags are every tag of fixtures/tags (about 41,000 from 20 official images) plus suffixed copies
(``-r1``, ``-main-<n>`` ...) up to 100,000. Each policy is compiled once and timed best of 5,
in-process on one core; then ``imagebot policy eval`` is timed as a process on the same tags
against the process's bare start-up (an empty tag list).

imagebot's bytecode is compiled first, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (as on
these machines) each process would otherwise compile imagebot's modules from source, which weighs on
the start-up and so on the ratio.

Before/after: `--baseline DIR` runs a second imagebot tree (a folder holding imagebot/, e.g.
`mkdir DIR && git archive COMMIT imagebot | tar -x -C DIR`) alternately with this one, in the same
conditions. `--cli-only` skips the in-process timings (and only prints).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imagebot.policy import build_policy  # noqa: E402

N = 100_000
POLICIES = {
    "semver '>=1.0.0 <100' (strict)": {"semver": ">=1.0.0 <100"},
    "semver '*' (loose)": {"semver": "*", "strict": False},
    "filter ^main-[0-9a-f]+-(?P<ts>[0-9]+)$ -> $ts, numerical asc": {
        "numerical": "asc", "filter_pattern": r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "filter_extract": "$ts",
    },
    "alphabetical asc": {"alphabetical": "asc"},
    "numerical asc": {"numerical": "asc"},
    "semver '^1' + exclusionList [^.*\\.sig$]": {"semver": "^1", "exclusions": [r"^.*\.sig$"]},
}


def corpus_tags() -> list[str]:
    base = sorted({t for f in sorted((ROOT / "fixtures" / "tags").glob("*.txt")) for t in f.read_text().split()})
    tags = list(base)
    i = 0
    while len(tags) < N:
        kind = i % 4  # suffixed copies of real tags, signatures, and main-<sha>-<timestamp> builds
        if kind == 3:
            tags.append(f"main-{i * 2654435761 % 16**7:07x}-{1_700_000_000 + i * 37}")
        else:
            tags.append(base[i % len(base)] + ("-r1", ".sig", "-debug")[kind])
        i += 1
    return tags[:N]


def best_of(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli_seconds(args: list[str], runs: list[tuple[Path, Path, str]], rounds: int) -> list[tuple[float, float]]:
    """Median wall and CPU (user + system) seconds of the command for each (tree, tags file, expected
    output); the runs take turns, so that a busy machine weighs on each alike."""
    walls: list[list[float]] = [[] for _ in runs]
    cpus: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, (tree, tags_file, expected) in enumerate(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "imagebot", "policy", "eval", *args, "--tags-file", str(tags_file)],
                check=False, capture_output=True, cwd=tree, text=True)
            walls[i].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if done.stdout != expected:
                raise SystemExit(f"{tree}: policy eval {' '.join(args)} on {tags_file.name} printed {done.stdout!r}, "
                                 f"expected {expected!r}\n{done.stderr[-2000:]}")
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


CLI_POLICIES = {
    "--semver >=1.0.0 <100": (["--semver", ">=1.0.0 <100"], {"semver": ">=1.0.0 <100"}),
    "--numerical asc --filter-pattern ^main-[0-9a-f]+-(?P<ts>[0-9]+)$ --filter-extract $ts": (
        ["--numerical", "asc", "--filter-pattern", r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "--filter-extract", "$ts"],
        {"numerical": "asc", "filter_pattern": r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "filter_extract": "$ts"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="processes per command and tags file (default 7)")
    parser.add_argument("--baseline", type=Path, help="another imagebot tree (a folder holding imagebot/), "
                        "run alternately with this one: before and after in the same conditions")
    parser.add_argument("--cli-only", action="store_true",
                        help="skip the in-process timings; print, do not write the results file")
    options = parser.parse_args()
    trees = [ROOT] + ([options.baseline] if options.baseline is not None else [])
    for tree in trees:
        if not (tree / "imagebot" / "__main__.py").is_file():
            parser.error(f"--baseline {tree}: no imagebot/__main__.py there")
        compileall.compile_dir(tree / "imagebot", quiet=1)
    tags = corpus_tags()
    lines = [f"policy engine benchmark: {len(tags)} tags ({len(set(tags))} distinct), best of 5, one core",
             f"python {sys.version.split()[0]}, bytecode cache "
             f"{'off (PYTHONDONTWRITEBYTECODE), so ' if sys.dont_write_bytecode else 'on, '}"
             "imagebot's bytecode compiled before the runs", f"load average at the start: "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
             ""]
    for name, kwargs in (() if options.cli_only else POLICIES.items()):
        policy = build_policy(**kwargs)
        selected = policy.latest(tags)
        seconds = best_of(lambda p=policy: p.latest(tags))
        explain = best_of(lambda p=policy: p.explain(tags), runs=2)
        lines.append(f"{name:<62} latest {seconds * 1000:7.1f} ms   explain {explain * 1000:7.1f} ms   -> {selected}")
    with tempfile.TemporaryDirectory() as tmp:
        full, empty = Path(tmp) / "tags.txt", Path(tmp) / "empty.txt"
        full.write_text("\n".join(tags) + "\n")
        empty.write_text("")
        if not options.cli_only:
            lines.append("")
        for name, (args, kwargs) in CLI_POLICIES.items():
            expected = build_policy(**kwargs).latest(tags) + "\n"
            runs = [(tree, tags_file, text) for tree in trees for tags_file, text in ((empty, ""), (full, expected))]
            figures = cli_seconds(args, runs, options.rounds)
            lines.append(f"imagebot policy eval {name}")
            for at, tree in enumerate(trees):
                (startup, startup_cpu), (total, total_cpu) = figures[2 * at:2 * at + 2]
                if tree != ROOT:
                    lines.append(f"  baseline {tree} (run alternately with this tree):")
                lines.append(f"    start-up (no tags) {startup * 1000:6.0f} ms   100k tags {total * 1000:6.0f} ms   "
                             f"{total / startup:.2f}x   (median of {options.rounds} processes, alternating)")
                lines.append(f"    CPU: start-up      {startup_cpu * 1000:6.0f} ms   100k tags "
                             f"{total_cpu * 1000:6.0f} ms   {total_cpu / startup_cpu:.2f}x   (target: at most 1.6x)")
    report = "\n".join(lines) + "\n"
    if not options.cli_only:  # a partial run is only printed
        out = ROOT / "bench" / "results" / "policy.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
    sys.stdout.write(report)


if __name__ == "__main__":
    main()
