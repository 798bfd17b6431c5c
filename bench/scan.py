"""Benchmark: scan 200 repositories x 500 tags on a local registry.

Compares imagebot's scan cycle with the raw HTTP requests it needs (one `tags/list` per
repository at the same concurrency), checks that each repository is listed exactly once though
every image is named by two ImageRepositories, and measures the CLI's wall time and peak RSS.

    .venv/bin/python bench/scan.py [--repositories 200] [--tags 500]

Results: bench/results/scan.txt
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imagebot.config import SecretStore, load_config  # noqa: E402
from imagebot.registry import RegistryClient  # noqa: E402
from imagebot.scan import Scanner  # noqa: E402
from imagebot.store import Store  # noqa: E402
from tests.support.registry import copy_repository, start_registry  # noqa: E402

CONCURRENCY = 8
TARGET = 1.5  # issue 16: within 1.5x of the raw tags/list request time


def write_config(folder: Path, host: str, repos: int) -> None:
    docs = []
    for i in range(repos):
        for suffix in ("", "-again"):  # two ImageRepositories per image: the scan must list it once
            docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app{i}{suffix}
  namespace: bench
spec:
  image: {host}/bench/app{i}
  interval: 1h
  insecure: true
""")
        docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app{i}, namespace: bench}}
spec:
  imageRepositoryRef: {{name: app{i}}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
""")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images.yaml").write_text("---\n".join(docs))


async def raw_listing(host: str, repos: int) -> float:
    """The floor: the same listings with a bare httpx client, same concurrency."""
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=f"http://{host}", limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
        async def one(i: int) -> None:
            async with limit:
                response = await http.get(f"/v2/bench/app{i}/tags/list")
                response.raise_for_status()
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(repos)))
        return time.perf_counter() - started


async def imagebot_scan(config_dir: Path, state: Path) -> tuple[float, float, int, int, dict[str, int]]:
    """The scan's wall and CPU seconds (not the config's loading), its requests, policies and statuses."""
    config = load_config(config_dir).raise_for_errors()
    with Store(state) as store:
        scanner = Scanner(config, SecretStore(None), store)
        async with RegistryClient(concurrency_per_host=CONCURRENCY) as client:
            started, cpu = time.perf_counter(), time.process_time()
            report = await scanner.scan(client)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert report.ok, [r.error for r in report.repositories if r.error][:3]
            statuses = {f"{h} {s}": n for (h, s), n in client.stats.by_host_status.items()}
            return elapsed, cpu, client.stats.total, len(report.policies), statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scan.txt")
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-") as tmp:
        work = Path(tmp)
        with start_registry(work / "registry") as registry:
            seeding = time.perf_counter()
            registry.push_image("bench/app0", "0.0.1")
            tags = [f"{major}.{minor}.{patch}" for major in range(1, 6) for minor in range(10)
                    for patch in range(10)][: args.tags - 1]
            registry.seed_tags("bench/app0", tags)
            for i in range(1, args.repositories):
                copy_repository(registry.storage_root, "bench/app0", f"bench/app{i}")
            seeded = time.perf_counter() - seeding
            config_dir = work / "config"
            write_config(config_dir, registry.host, args.repositories)

            # Alternately, so that whatever else the machine does weighs on both alike; CPU time too.
            raw, raw_cpu, runs, scan_cpu = [], [], [], []
            for r in range(args.rounds):
                cpu = time.process_time()
                raw.append(asyncio.run(raw_listing(registry.host, args.repositories)))
                raw_cpu.append(time.process_time() - cpu)
                runs.append(asyncio.run(imagebot_scan(config_dir, work / f"state{r}")))
                scan_cpu.append(runs[-1][1])
            scans = [r[0] for r in runs]
            _, _, requests, policies, statuses = runs[0]

            cli_started = time.perf_counter()
            cli = subprocess.run([sys.executable, "-m", "imagebot", "scan", "-c", str(config_dir), "--state-dir",
                                  str(work / "cli-state"), "--output", "json"], capture_output=True, text=True)
            cli_wall = time.perf_counter() - cli_started
            assert cli.returncode == 0, cli.stderr[-2000:]
            peak_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    raw_best, scan_best = min(raw), min(scans)
    lines += [
        f"imagebot scan benchmark ({time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores)",
        f"setup: {args.repositories} repositories x {args.tags} tags on docker-registry (plain http), "
        f"each named by 2 ImageRepositories, {policies} semver ImagePolicies; seeded in {seeded:.1f}s",
        f"raw tags/list requests (httpx, {CONCURRENCY} in flight), best of {args.rounds}: {raw_best * 1000:.0f} ms "
        f"(median {statistics.median(raw) * 1000:.0f} ms)",
        f"imagebot Scanner.scan in-process, best of {args.rounds}: {scan_best * 1000:.0f} ms "
        f"(median {statistics.median(scans) * 1000:.0f} ms) = {scan_best / raw_best:.2f}x raw, "
        f"{statistics.median(scans) / statistics.median(raw):.2f}x by medians (target <= {TARGET}x)",
        f"CPU of this process, medians: raw {statistics.median(raw_cpu) * 1000:.0f} ms, "
        f"Scanner.scan {statistics.median(scan_cpu) * 1000:.0f} ms",
        f"registry requests made by the scan: {requests} for {args.repositories} repositories "
        f"({'exactly one listing each' if requests == args.repositories else 'NOT one listing each'}); "
        f"by status: {statuses}",
        f"imagebot scan CLI (start-up, config of {3 * args.repositories} objects, scan, JSON): "
        f"{cli_wall * 1000:.0f} ms wall, peak RSS {peak_rss_mib:.0f} MiB",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text, end="")
    return 0 if requests == args.repositories and scan_best <= TARGET * raw_best else 1


if __name__ == "__main__":
    raise SystemExit(main())
