"""Benchmark: `imagebot run` as a service over many repositories, as one instance and as three shards.

A local registry holds R repositories of T tags each (tag links written into its storage); the config
has R ImageRepositories and ImagePolicies on an interval of I seconds and A automations (each with a
bare git remote whose manifests mark its policies) on the same interval, spread over 3 shard keys.
Each run lasts D seconds: CPU share of one core (utime+stime from /proc), peak RSS (VmHWM), scans per
second and failed scans (/metrics imagebot_scans_total), CPU per scan, the largest gap between two
scans of one repository (/status lastScan, read every 10 s) and how many repositories slipped past the
interval plus its jitter (a tenth, at most 30 s), with the worst of them, and the warnings and errors
each instance logged meanwhile.

Run: .venv/bin/python bench/service_shards.py [--repositories 2000] [--tags 200] [--automations 50]
     [--interval 60] [--duration 600]
The issue's full size is the default; on the shared 2-core machine a reduced run is
`--repositories 300 --tags 200 --automations 12 --interval 20 --duration 90`.
Writes bench/results/service_shards.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from tests.support.registry import RegistryServer, start_registry  # noqa: E402

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
    """bench/app0 .. app{repositories-1}, each with the tags 1.0.0 .. 1.{tags-1}.0 (links in the storage).

    app1 and later are symbolic links to app0's folder: the benchmarks only read them, and 2,000 copies
    took 6.5 minutes and 11 GB of small files (and as long again to delete)."""
    registry.push_image("bench/app0", "1.0.0")
    registry.seed_tags("bench/app0", [f"1.{t}.0" for t in range(tags)])
    base = registry.storage_root / "docker/registry/v2/repositories/bench"
    for r in range(1, repositories):
        (base / f"app{r}").symlink_to("app0", target_is_directory=True)


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


def scans(instance: Instance) -> Counter[str]:
    """imagebot_scans_total by result: ok, error."""
    text = httpx.get(f"http://127.0.0.1:{instance.port}/metrics", timeout=30, trust_env=False).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "imagebot_scans_total":
                counts[sample.labels["result"]] += sample.value
    return counts


POLL_EVERY = 10.0  # seconds between /status reads: scans of one repository are an interval apart, and
# lastScan says when each happened, so a read every 10 s sees every scan; each read costs the service
# a /status document of every repository (at 2,000 of them a read a second was a tenth of a core)


@dataclass
class ScanWatch:
    """Each repository's scans, as /status shows them: the largest gap between two scans of one
    repository, and which repositories slipped past the interval plus its jitter."""

    allowed: float  # seconds
    last: dict[tuple[str, ...], float] = field(default_factory=dict)
    worst: dict[tuple[str, ...], tuple[float, float]] = field(default_factory=dict)  # gap, when it ended
    failing: set[tuple[str, ...]] = field(default_factory=set)  # last scan seen ended in an error

    def poll(self, instance: Instance, prefix: tuple[str, ...] = ()) -> list[dict] | None:
        """Read /status once; its repositories, or None when it did not answer (the gaps will show it)."""
        try:
            repositories = status(instance)["repositories"]
        except httpx.HTTPError:
            return None
        for repo in repositories:
            if not repo["lastScan"]:
                continue
            at = datetime.fromisoformat(repo["lastScan"]).timestamp()
            key = (*prefix, repo["namespace"], repo["name"])
            before = self.last.get(key)
            if before is not None and at != before and at - before > self.worst.get(key, (0.0, 0.0))[0]:
                self.worst[key] = (at - before, at)
            self.last[key] = at
            (self.failing.add if repo["error"] else self.failing.discard)(key)
        return repositories

    def slipped(self, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float, float]]:
        return sorted(((k, gap, at) for k, (gap, at) in self.worst.items()
                       if k[:len(prefix)] == prefix and gap > self.allowed), key=lambda s: -s[1])

    def largest(self, prefix: tuple[str, ...] = ()) -> float:
        return max((gap for k, (gap, _) in self.worst.items() if k[:len(prefix)] == prefix), default=0.0)

    def report(self, prefix: tuple[str, ...] = (), indent: str = "") -> list[str]:
        slipped = self.slipped(prefix)
        watched = sum(1 for k in self.last if k[:len(prefix)] == prefix)
        lines = [f"{indent}largest gap between two scans of a repository: {self.largest(prefix):.1f} s; "
                 f"{len(slipped)} of {watched} repositories slipped past interval+jitter {self.allowed:.0f} s"]
        for key, gap, at in slipped[:5]:
            ended = datetime.fromtimestamp(at).isoformat(timespec="seconds")
            lines.append(f"{indent}  {'/'.join(key[len(prefix):])}: {gap:.0f} s up to the scan at {ended}")
        return lines


def scan_figures(before: Counter[str], after: Counter[str], elapsed: float) -> tuple[float, str]:
    """Scans per second over the run, and the failed scans said in words."""
    done = {result: after[result] - before[result] for result in set(after) | set(before)}
    failed = int(done.get("error", 0))
    return sum(done.values()) / elapsed, f"{failed} scan{'' if failed == 1 else 's'} failed"


def log_problems(path: Path, since: float, until: float, limit: int = 5) -> list[str]:
    """The service's warning and error lines (JSON log) from `since` to `until` (time.time()), counted by
    message."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(entry, dict) or entry.get("level") not in ("warning", "error", "critical"):
            continue
        if since <= datetime.fromisoformat(entry["time"]).timestamp() <= until:
            counts[f"{entry['level']} {entry.get('logger')}: {str(entry.get('message'))[:120]}"] += 1
    return [f"{n:6d} x {message}" for message, n in counts.most_common(limit)]


def wait_for_first_scans(instance: Instance, timeout: float = 900) -> None:
    """Until /status shows every repository scanned (read every 2 s: at 2,000 repositories each read
    costs the service a few hundred kilobytes of JSON, and reads every 0.2 s slowed its start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert instance.process is not None
        if instance.process.poll() is not None:
            raise SystemExit(f"{instance.name} exited with {instance.process.returncode}:\n{instance.log[-3000:]}")
        try:
            repositories = status(instance)["repositories"]
        except httpx.HTTPError:
            repositories = []
        if repositories and all(r["lastScan"] for r in repositories):
            return
        time.sleep(2)
    raise SystemExit(f"{instance.name}: not every repository was scanned within {timeout:.0f} s")


def measure(names: list[str], work: Path, config: Path, args: argparse.Namespace) -> list[str]:
    instances = [Instance(name, config, work / "secrets", work / f"state-{name}", work / "home",
                          work / f"{name}.log", selector=SHARDS.get(name, "")) for name in names]
    try:
        for instance in instances:
            instance.start()
        for instance in instances:
            wait_for_first_scans(instance)
        start, since = time.monotonic(), time.time()
        cpu0 = {i.name: proc_figures(i.process.pid)[0] for i in instances}
        scans0 = {i.name: scans(i) for i in instances}
        watch = ScanWatch(args.interval + jitter_for(args.interval) + 1)  # lastScan is to the second
        while time.monotonic() - start < args.duration:
            for instance in instances:
                watch.poll(instance, (instance.name,))
            time.sleep(POLL_EVERY)
        elapsed, until = time.monotonic() - start, time.time()
        lines = []
        for instance in instances:
            cpu, hwm = proc_figures(instance.process.pid)
            share = 100 * (cpu - cpu0[instance.name]) / elapsed
            rate, failed = scan_figures(scans0[instance.name], scans(instance), elapsed)
            per_scan = 1000 * (cpu - cpu0[instance.name]) / max(1.0, rate * elapsed)
            lines.append(f"  {instance.name:7} CPU {share:5.1f} % of a core, peak RSS {hwm / 2**20:6.1f} MiB, "
                         f"{rate:6.2f} scans/s, CPU per scan {per_scan:4.1f} ms, {failed}")
            lines += watch.report((instance.name,), indent="    ")
            lines += [f"    {p}" for p in log_problems(instance.log_path, since, until)]
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
