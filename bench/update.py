"""Benchmark: `imagebot set` over 10,000 YAML files (about 50 MB), 500 markers in 200 files.

Run: .venv/bin/python bench/update.py [--files 10000] [--runs 5]
Writes bench/results/update.txt. Target: under 1 s per run of the whole command (issue 16).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
POLICIES = 50
TARGET_SECONDS = 1.0  # issue 16 (was 2.0)

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: team-{team}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: shop   # the storefront
spec:
  replicas: 3
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      annotations:
        prometheus.io/scrape: "true"
    spec:
      containers:
{containers}
"""
_CONTAINER = """\
      - name: {cname}
        image: {image}{marker}
        args: ["--port", "8080", '--log-level', info]
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: GREETING
          value: |
            hello,
            world
        resources:
          limits: {{cpu: 500m, memory: 256Mi}}
"""


def _filler(size: int, rng: random.Random) -> str:
    """A ConfigMap of about `size` bytes: long lines, block scalars, comments."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: cfg-{rng.randrange(10**9)}", "data:"]
    n = 0
    while sum(len(x) + 1 for x in lines) < size:
        n += 1
        lines.append(f"  key{n}: {'x' * rng.randrange(20, 120)}  # comment {n}")
        if n % 7 == 0:
            lines.append(f"  block{n}: |")
            lines.extend(f"    line {i} of a block scalar with some text" for i in range(5))
    return "\n".join(lines) + "\n"


def _marked(index: int, markers: int, tag: str) -> str:
    containers = []
    for c in range(markers):
        policy = f"app{(index * 3 + c) % POLICIES}"
        containers.append(
            _CONTAINER.format(
                cname=f"c{c}",
                image=f"ghcr.io/org/{policy}:{tag}",
                marker=f' # {{"$imagepolicy": "apps:{policy}"}}',
            )
        )
    body = _DEPLOYMENT.format(name=f"web{index}", team=index % 10, containers="".join(containers))
    # pad to the tree's average size with an unmarked document
    return body + "---\n" + _filler(5000 - len(body), random.Random(index))


def build_tree(root: Path, files: int, marked_files: int, markers: int) -> int:
    rng = random.Random(42)
    total = 0
    marked_at = set(rng.sample(range(files), marked_files))
    per_file = [markers // marked_files] * marked_files
    for i in range(markers - sum(per_file)):
        per_file[i] += 1
    k = 0
    for i in range(files):
        folder = root / f"team{i % 20}" / f"svc{i % 500}"
        folder.mkdir(parents=True, exist_ok=True)
        if i in marked_at:
            text = _marked(i, per_file[k], "v0")
            k += 1
        else:
            text = _filler(rng.randrange(3000, 7000), rng)
        data = text.encode()
        (folder / f"m{i}.yaml").write_bytes(data)
        total += len(data)
    return total


def run_set(root: Path, tag: str) -> tuple[float, float, int]:
    """Wall and CPU (user + system) seconds of one `imagebot set`, and the files it reported changed."""
    values = [f"apps:app{p}=ghcr.io/org/app{p}:{tag}" for p in range(POLICIES)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "imagebot", "set", str(root), *values],
        cwd=PROJECT, capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"imagebot set failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu, len(proc.stdout.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--marked-files", type=int, default=200)
    parser.add_argument("--markers", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT))
    import imagebot.update.scan as scan_module
    from imagebot.update import PolicyValue, apply_updates

    with tempfile.TemporaryDirectory(prefix="imagebot-bench-") as tmp:
        root = Path(tmp) / "repo"
        t0 = time.perf_counter()
        size = build_tree(root, args.files, args.marked_files, args.markers)
        build = time.perf_counter() - t0
        times, cpus, changed = [], [], []
        for run in range(1, args.runs + 1):
            elapsed, cpu, files = run_set(root, f"v{run}")
            times.append(elapsed)
            cpus.append(cpu)
            changed.append(files)
        # in-process: the library call alone, without interpreter start-up
        t0 = time.perf_counter()
        result = apply_updates(root, {}, write=False)
        scan_only = time.perf_counter() - t0
        # the same update without libyaml (ruamel.yaml.clib missing): pure-Python parsing
        values = {f"apps:app{p}": PolicyValue(f"ghcr.io/org/app{p}", "v-pure") for p in range(POLICIES)}
        saved, scan_module._CParser = scan_module._CParser, None
        try:
            t0 = time.perf_counter()
            pure = apply_updates(root, values, write=False)
            pure_time = time.perf_counter() - t0
        finally:
            scan_module._CParser = saved
        startup_t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "imagebot", "--version"], cwd=PROJECT, capture_output=True,
                       check=True)
        startup = time.perf_counter() - startup_t0

    median = statistics.median(times)
    report = [
        "imagebot set benchmark (bench/update.py)",
        f"command: .venv/bin/python bench/update.py --files {args.files} --runs {args.runs}",
        f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, "
        f"libyaml parser: {'yes' if scan_module._CParser is not None else 'no (pure Python)'}",
        f"tree: {args.files} files, {size / 1e6:.1f} MB, {args.markers} markers in {args.marked_files} files, "
        f"{POLICIES} policies (built in {build:.1f} s)",
        f"imagebot set, whole command, each run changing all {args.markers} values: "
        + ", ".join(f"{t:.2f}" for t in times) + " s",
        f"median {median:.2f} s, best {min(times):.2f} s; files reported changed per run: {sorted(set(changed))}",
        "CPU (user + system) per run: " + ", ".join(f"{t:.2f}" for t in cpus)
        + f" s, median {statistics.median(cpus):.2f} s",
        f"apply_updates with no values (read all, parse the {args.marked_files} marked): {scan_only:.2f} s "
        f"({len(result.notes)} notes)",
        f"apply_updates in-process with the pure-Python parser (no ruamel.yaml.clib), dry run: "
        f"{pure_time:.2f} s for {len(pure.changes)} changes",
        f"interpreter + CLI start-up (imagebot --version): {startup:.2f} s",
        f"target {TARGET_SECONDS:.1f} s: {'met' if median < TARGET_SECONDS else 'MISSED'}",
    ]
    out = HERE / "results" / "update.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
