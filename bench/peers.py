"""Benchmark: `imagebot plan` beside Renovate's lookup, on one local registry and one folder of manifests.

A local registry holds N images of T tags (1.0.0 .. 1.{T-1}.0); a folder holds N Deployments, each at
1.0.0 with a Flux marker. Each round runs, cold (a fresh state folder, a fresh Renovate cache):
- `imagebot plan --repo MANIFESTS` over N ImageRepositories and semver ImagePolicies, and checks that its
  diff moves every image to 1.{T-1}.0;
- Renovate's lookup (`--platform=local --dry-run=lookup`, the kubernetes manager, a file report), and
  checks that its report offers every image 1.{T-1}.0;
- the raw requests: one `tags/list` per image with httpx, 8 in flight (bench/scan.py's floor).
They alternate, R rounds; the results are medians of wall time and each process's peak RSS.

Renovate is optional. Install it into a throwaway folder (Renovate 39.264.1 is the last release that
runs on Node 20; 40 and later need Node 22):
    mkdir -p /tmp/renovate && cd /tmp/renovate && npm install renovate@39.264.1
then pass `--renovate /tmp/renovate/node_modules/.bin/renovate`. Without it, imagebot is compared with
the raw request time alone.

Before/after: `--baseline DIR` runs a second imagebot tree alternately with this one, in the same
conditions (DIR holds an `imagebot/` package, e.g. `mkdir DIR && git archive COMMIT imagebot | tar -x -C DIR`).

Both trees' bytecode is compiled first, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (as on
these machines) every run would otherwise compile imagebot's ~80 modules from source, about 0.2 s.

Run: .venv/bin/python bench/peers.py [--images 20] [--tags 500] [--rounds 3] [--renovate PATH] [--baseline DIR]
Writes bench/results/peers-{N}x{T}.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(HERE))

from scan import raw_listing  # noqa: E402
from service_shards import seed_registry  # noqa: E402

from tests.support.registry import start_registry  # noqa: E402

RENOVATE_VERSION = "39.264.1"


@dataclass
class Run:
    seconds: float
    cpu: float  # user + system seconds of the process and its waited-for children
    peak_rss: int  # bytes, of the process (ru_maxrss)
    found: int  # images offered the newest tag


def run_measured(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall time, CPU time, peak RSS of the process (ru_maxrss of the waited child) and stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, problems = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed ({process.returncode}):\n{problems[-3000:]}\n{text[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, text


def write_manifests(folder: Path, host: str, images: int) -> None:
    for i in range(images):
        path = folder / "apps" / f"app{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: app{i}, namespace: bench}}
            spec:
              template:
                spec:
                  containers:
                    - name: app
                      image: {host}/bench/app{i}:1.0.0 # {{"$imagepolicy": "bench:app{i}"}}
            """))


def write_imagebot_config(folder: Path, host: str, images: int) -> None:
    # Block style, as Flux's own examples: libyaml refuses `host:port/x` as a plain scalar inside a flow
    # mapping, and the config loader then parses the whole file again with ruamel's pure-Python parser.
    docs = []
    for i in range(images):
        docs.append(f"""\
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImageRepository
            metadata: {{name: app{i}, namespace: bench}}
            spec:
              image: {host}/bench/app{i}
              interval: 1h
              insecure: true
            ---
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImagePolicy
            metadata: {{name: app{i}, namespace: bench}}
            spec:
              imageRepositoryRef: {{name: app{i}}}
              policy: {{semver: {{range: ">=1.0.0"}}}}
            """)
    docs.append("""\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: bench}
        spec: {url: "https://git.example.com/fleet.git", interval: 1h, ref: {branch: main}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageUpdateAutomation
        metadata: {name: fleet, namespace: bench}
        spec:
          interval: 1h
          sourceRef: {kind: GitRepository, name: fleet}
          git:
            commit: {author: {name: imagebot, email: imagebot@example.com}}
            push: {branch: main}
          update: {path: ./apps, strategy: Setters}
        """)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fleet.yaml").write_text("---\n".join(textwrap.dedent(d) for d in docs))


def imagebot_plan(work: Path, config: Path, manifests: Path, newest: str, n: int, tree: Path = PROJECT) -> Run:
    """One cold `imagebot plan`, the package imported from `tree` (python -m puts the working folder first)."""
    state = Path(tempfile.mkdtemp(prefix="state-", dir=work))
    env = {**os.environ, "NO_PROXY": "*"}
    seconds, cpu, rss, out = run_measured([sys.executable, "-m", "imagebot", "plan", "-c", str(config), "--repo",
                                      str(manifests), "--state-dir", str(state)], env, tree)
    shutil.rmtree(state)
    found = sum(1 for line in out.splitlines() if line.startswith("+") and f":{newest} " in line)
    return Run(seconds, cpu, rss, found)


def renovate_lookup(renovate: Path, work: Path, host: str, manifests: Path, newest: str, n: int) -> Run:
    cache = Path(tempfile.mkdtemp(prefix="renovate-cache-", dir=work))
    report = cache / "report.json"
    env = {
        "PATH": f"{renovate.parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(cache), "LOG_LEVEL": "warn",
        "RENOVATE_PLATFORM": "local", "RENOVATE_DRY_RUN": "lookup", "RENOVATE_CACHE_DIR": str(cache / "cache"),
        "RENOVATE_BASE_DIR": str(cache / "base"), "RENOVATE_REPORT_TYPE": "file", "RENOVATE_REPORT_PATH": str(report),
        "RENOVATE_ONBOARDING": "false", "RENOVATE_REQUIRE_CONFIG": "optional",
        "RENOVATE_ENABLED_MANAGERS": '["kubernetes"]',
        "RENOVATE_KUBERNETES": json.dumps({"fileMatch": ["apps/.+\\.yaml$"]}),
        # plain http, as imagebot's spec.insecure: Renovate's docker datasource reads it from a host rule
        "RENOVATE_HOST_RULES": json.dumps([{"hostType": "docker", "matchHost": host.split(":")[0],
                                            "insecureRegistry": True}]),
        "NO_PROXY": "*", "no_proxy": "*",
    }
    seconds, cpu, rss, _ = run_measured([str(renovate)], env, manifests)
    document = json.loads(report.read_text())
    found = 0
    for repository in document.get("repositories", {}).values():
        for files in repository.get("packageFiles", {}).values():
            for package_file in files:
                for dep in package_file.get("deps", []):
                    if any(u.get("newVersion") == newest for u in dep.get("updates", [])):
                        found += 1
    shutil.rmtree(cache)
    return Run(seconds, cpu, rss, found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--renovate", type=Path, help="the renovate executable (node_modules/.bin/renovate)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline", type=Path, help="another imagebot tree (a folder holding imagebot/), "
                        "run alternately with this one: before and after in the same conditions")
    args = parser.parse_args()
    for tree in (PROJECT, args.baseline):
        if tree is not None:
            if not (tree / "imagebot" / "__main__.py").is_file():
                parser.error(f"--baseline {tree}: no imagebot/__main__.py there")
            compileall.compile_dir(tree / "imagebot", quiet=1)
    renovate = args.renovate or (Path(found) if (found := shutil.which("renovate")) else None)
    newest = f"1.{args.tags - 1}.0"
    imagebot: list[Run] = []
    before: list[Run] = []
    peer: list[Run] = []
    raw: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        with start_registry(work / "registry") as registry:
            seed_registry(registry, args.images, args.tags)
            manifests, config = work / "manifests", work / "config"
            write_manifests(manifests, registry.host, args.images)
            write_imagebot_config(config, registry.host, args.images)
            for _ in range(args.rounds):
                if args.baseline is not None:
                    before.append(imagebot_plan(work, config, manifests, newest, args.images, args.baseline))
                imagebot.append(imagebot_plan(work, config, manifests, newest, args.images))
                if renovate is not None:
                    peer.append(renovate_lookup(renovate, work, registry.host, manifests, newest, args.images))
                raw.append(asyncio.run(raw_listing(registry.host, args.images)))
        # written before the folder goes: deleting the registry's tag links can take minutes on a busy disk
        return report(args, renovate, newest, imagebot, peer, raw, before)


def report(args: argparse.Namespace, renovate: Path | None, newest: str, imagebot: list[Run], peer: list[Run],
           raw: list[float], before: list[Run]) -> int:
    def median(runs: list[Run]) -> tuple[float, float, float]:
        return (statistics.median(r.seconds for r in runs), statistics.median(r.cpu for r in runs),
                statistics.median(r.peak_rss for r in runs) / 2**20)

    def figures(runs: list[Run]) -> str:
        seconds, cpu, rss = median(runs)
        return (f"median {seconds * 1000:.0f} ms (runs {', '.join(f'{r.seconds * 1000:.0f}' for r in runs)}), "
                f"CPU {cpu * 1000:.0f} ms (runs {', '.join(f'{r.cpu * 1000:.0f}' for r in runs)}), "
                f"peak RSS {rss:.0f} MiB, found {min(r.found for r in runs)}/{args.images}")

    ib_seconds, ib_cpu, ib_rss = median(imagebot)
    raw_seconds = statistics.median(raw)
    lines = [
        f"peers: {args.images} images x {args.tags} tags on docker-registry (plain http), {args.rounds} rounds, "
        f"each cold ({platform.node()}, {os.cpu_count()} CPUs shared with other work, "
        f"{time.strftime('%Y-%m-%dT%H:%M:%S')})",
        f"command: .venv/bin/python bench/peers.py --images {args.images} --tags {args.tags} --rounds {args.rounds}"
        + (" --renovate PATH" if renovate else "") + (" --baseline DIR" if before else ""),
        f"raw tags/list requests (httpx, 8 in flight, in-process): median {raw_seconds * 1000:.0f} ms",
        f"imagebot plan (whole process, fresh state): {figures(imagebot)} updates to {newest}",
        f"imagebot plan / raw requests: {ib_seconds / raw_seconds:.2f}x wall time",
    ]
    ok = all(r.found == args.images for r in imagebot)
    if before:
        b_seconds, b_cpu, _ = median(before)
        ok = ok and all(r.found == args.images for r in before)
        lines += [
            f"baseline imagebot ({args.baseline}, run alternately): {figures(before)}; "
            f"{b_seconds / raw_seconds:.2f}x the raw requests",
            f"this tree against the baseline: {b_seconds / ib_seconds:.2f}x less wall time, "
            f"{b_cpu / ib_cpu:.2f}x less CPU",
        ]
    if renovate is not None:
        rv_seconds, rv_cpu, rv_rss = median(peer)
        ok = ok and all(r.found == args.images for r in peer)
        lines += [
            f"Renovate {RENOVATE_VERSION} lookup (--platform=local --dry-run=lookup, fresh cache): "
            f"{figures(peer)} updates to {newest}",
            f"imagebot: {rv_seconds / ib_seconds:.1f}x less wall time, {rv_cpu / ib_cpu:.1f}x less CPU, "
            f"{rv_rss / ib_rss:.1f}x less memory",
        ]
    else:
        lines.append("Renovate: not found (install it as the docstring of bench/peers.py says, then pass "
                     "--renovate); compared with the raw requests only")
    text = "\n".join(lines) + "\n"
    out = args.out or HERE / "results" / f"peers-{args.images}x{args.tags}.txt"
    out.write_text(text)
    print(text, end="")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
