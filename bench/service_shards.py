"""Benchmark: `imagebot run` as a service over many repositories, as one instance and as three shards.

A local registry holds R repositories of T tags each (tag links written into its storage); the config
has R ImageRepositories and ImagePolicies on an interval of I seconds and A automations (each with a
bare git remote whose manifests mark its policies) on the same interval, spread over 3 shard keys.
Each run lasts D seconds: CPU share of one core (utime+stime from /proc), peak RSS (VmHWM), scans per
second (/metrics imagebot_scans_total), and the largest gap between two scans of one repository
(/status lastScan, polled every second) against the interval plus its jitter (a tenth, at most 30 s).

Run: .venv/bin/python bench/service_shards.py [--repositories 2000] [--tags 200] [--automations 50]
     [--interval 60] [--duration 600]
The issue's full size is the default; on the shared 2-core machine a reduced run is
`--repositories 300 --tags 200 --automations 12 --interval 20 --duration 90`.
Writes bench/results/service_shards.txt.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from imagebot.service.schedule import jitter_for  # noqa: E402
from tests.shards.fleet import KEY, Instance  # noqa: E402
from tests.support.gitremotes import make_bare_repo  # noqa: E402
from tests.support.registry import RegistryServer, copy_repository, start_registry  # noqa: E402

SHARDS = {"shard1": f"{KEY} in (shard1)", "shard2": f"{KEY} in (shard2)", "main": f"{KEY} notin (shard1,shard2)"}


def write_config(folder: Path, remotes: Path, host: str, args: argparse.Namespace) -> None:
    per_automation = max(1, args.repositories // max(1, args.automations))
    docs = []
    for r in range(args.repositories):
        a = max(0, min(r // per_automation, args.automations - 1))  # namespace team0 without automations
        shard = ("shard1", "shard2", None)[a % 3]
        labels = f"{{{KEY}: {shard}}}" if shard else "{}"
        docs.append(f"""\
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImageRepository
            metadata: {{name: app{r}, namespace: team{a}, labels: {labels}}}
            spec: {{image: {host}/bench/app{r}, interval: {args.interval}s, timeout: 60s, insecure: true}}
            ---
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImagePolicy
            metadata: {{name: app{r}, namespace: team{a}, labels: {labels}}}
            spec:
              imageRepositoryRef: {{name: app{r}}}
              policy: {{semver: {{range: ">=1.0.0"}}}}
            """)
    for a in range(args.automations):
        shard = ("shard1", "shard2", None)[a % 3]
        labels = f"{{{KEY}: {shard}}}" if shard else "{}"
        newest = f"1.{args.tags - 1}.0"
        files = {f"apps/app{r}.yaml": f'image: {host}/bench/app{r}:{newest} # {{"$imagepolicy": "team{a}:app{r}"}}\n'
                 for r in range(a * per_automation, min((a + 1) * per_automation, args.repositories))}
        remote = make_bare_repo(remotes / f"team{a}.git", files)
        docs.append(f"""\
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {{name: fleet, namespace: team{a}}}
            spec: {{url: "{remote.path}", interval: 1h, ref: {{branch: main}}}}
            ---
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImageUpdateAutomation
            metadata: {{name: fleet, namespace: team{a}, labels: {labels}}}
            spec:
              interval: {args.interval}s
              sourceRef: {{kind: GitRepository, name: fleet}}
              git:
                commit: {{author: {{name: imagebot, email: imagebot@example.com}}}}
                push: {{branch: main}}
              update: {{path: ./apps, strategy: Setters}}
            """)
    (folder / "fleet.yaml").write_text("---\n".join(textwrap.dedent(d) for d in docs))


def seed_registry(registry: RegistryServer, repositories: int, tags: int) -> None:
    """bench/app0 .. app{repositories-1}, each with the tags 1.0.0 .. 1.{tags-1}.0 (links in the storage)."""
    registry.push_image("bench/app0", "1.0.0")
    registry.seed_tags("bench/app0", [f"1.{t}.0" for t in range(tags)])
    for r in range(1, repositories):
        copy_repository(registry.storage_root, "bench/app0", f"bench/app{r}")


def proc_figures(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    return cpu, hwm * 1024


def add_load_options(parser: argparse.ArgumentParser, *, repositories: int, automations: int,
                     duration: int) -> None:
    """The fleet's shape, shared with bench/service_load.py."""
    parser.add_argument("--repositories", type=int, default=repositories)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--automations", type=int, default=automations)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--duration", type=int, default=duration)


@contextmanager
def fleet(prefix: str, args: argparse.Namespace) -> Iterator[tuple[Path, Path]]:
    """A work folder (secrets/, config/) with a registry seeded as `args` says and the config written:
    (work folder, config folder), for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        (work / "secrets").mkdir()
        config = work / "config"
        config.mkdir()
        with start_registry(work / "registry") as registry:
            seed_registry(registry, args.repositories, args.tags)
            write_config(config, work / "remotes", registry.host, args)
            yield work, config


def status(instance: Instance) -> dict:
    return httpx.get(f"http://127.0.0.1:{instance.port}/status", timeout=30, trust_env=False).json()


def scans(instance: Instance) -> float:
    text = httpx.get(f"http://127.0.0.1:{instance.port}/metrics", timeout=30, trust_env=False).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "imagebot_scans_total")


def measure(names: list[str], work: Path, config: Path, args: argparse.Namespace) -> list[str]:
    instances = [Instance(name, config, work / "secrets", work / f"state-{name}", work / "home",
                          work / f"{name}.log", selector=SHARDS.get(name, "")) for name in names]
    try:
        for instance in instances:
            instance.start()
        for instance in instances:
            instance.wait(lambda s: bool(s["repositories"]) and all(r["lastScan"] for r in s["repositories"]),
                          "first scan of every repository", timeout=600)
        start = time.monotonic()
        cpu0 = {i.name: proc_figures(i.process.pid)[0] for i in instances}
        scans0 = {i.name: scans(i) for i in instances}
        last: dict[tuple[str, str, str], float] = {}
        gaps: dict[tuple[str, str, str], float] = {}
        while time.monotonic() - start < args.duration:
            for instance in instances:
                try:
                    repositories = status(instance)["repositories"]
                except httpx.HTTPError:
                    continue  # a slow answer is itself a figure: the gaps show it
                for repo in repositories:
                    at = datetime.fromisoformat(repo["lastScan"]).timestamp()
                    key = (instance.name, repo["namespace"], repo["name"])
                    if key in last and at != last[key]:
                        gaps[key] = max(gaps.get(key, 0.0), at - last[key])
                    last[key] = at
            time.sleep(1)
        elapsed = time.monotonic() - start
        allowed = args.interval + jitter_for(args.interval) + 1  # lastScan is to the second
        lines = []
        for instance in instances:
            cpu, hwm = proc_figures(instance.process.pid)
            share = 100 * (cpu - cpu0[instance.name]) / elapsed
            rate = (scans(instance) - scans0[instance.name]) / elapsed
            worst = max((g for (name, _, _), g in gaps.items() if name == instance.name), default=0.0)
            lines.append(f"  {instance.name:7} CPU {share:5.1f} % of a core, peak RSS {hwm / 2**20:6.1f} MiB, "
                         f"{rate:6.2f} scans/s, largest gap between scans {worst:5.1f} s "
                         f"({'SLIPPED' if worst > allowed else 'within'} interval+jitter {allowed:.0f} s)")
            instance.stop()
    finally:  # never leave a service behind, whatever failed
        for instance in instances:
            instance.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser, repositories=2000, automations=50, duration=600)
    args = parser.parse_args()
    head = (f"service_shards: {args.repositories} repositories x {args.tags} tags, {args.automations} automations, "
            f"interval {args.interval} s, {args.duration} s per run ({platform.node()}, {os.cpu_count()} CPUs, "
            f"{datetime.now().isoformat(timespec='seconds')})")

    def report(*lines: str) -> None:
        # Written as each phase ends, before the folder is deleted: deleting millions of tag links
        # can take longer than the run, and an interrupted run keeps what it measured.
        text = "\n".join([head, *lines]) + "\n"
        (HERE / "results" / "service_shards.txt").write_text(text)
        print(text, end="", flush=True)

    with fleet("bench-shards-", args) as (work, config):
        one = measure(["all"], work, config, args)
        report("one instance:", *one, "three shards: (running)")
        three = measure(list(SHARDS), work, config, args)
        report("one instance:", *one, "three shards:", *three)


if __name__ == "__main__":
    main()
