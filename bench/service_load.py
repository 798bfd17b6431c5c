"""Benchmark: one `imagebot run` service scanning many repositories on short intervals.

A local registry holds R repositories of T tags each; the config has R ImageRepositories and semver
ImagePolicies on an interval of I seconds (and A automations, none by default). The service runs for
D seconds after every repository's first scan. Figures: RSS over time (VmRSS from /proc, sampled each
second from the start), peak RSS (VmHWM), CPU share of one core at start-up and in the steady state,
scans per second (/metrics imagebot_scans_total), and the largest gap between two scans of one
repository (/status lastScan, polled every 10 s so that the poll itself costs the service little)
against the interval plus its jitter.

`--profile` instead runs the service's scan path in this process (Runtime.scheduled_scan, one
repository at a time, as the scheduler calls it): CPU per scan, the top of a cProfile, and where
memory stays (tracemalloc: growth over a first round of scans, per repository, and over a second
round, which should be none).

Run: .venv/bin/python bench/service_load.py [--repositories 500] [--tags 200] [--interval 60]
     [--duration 180] [--automations 0] [--profile]
Writes bench/results/service_load.txt (service_load-profile.txt with --profile; --out to change).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from service_shards import add_load_options, fleet, proc_figures, scans, status  # noqa: E402

from imagebot.service.schedule import jitter_for  # noqa: E402
from tests.shards.fleet import Instance  # noqa: E402

MARKS = (5, 15, 30, 60, 120, 180, 300, 600)  # seconds after start at which RSS is reported


def rss(pid: int) -> int:
    return next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:"))


def run_service(work: Path, config: Path, args: argparse.Namespace) -> list[str]:
    instance = Instance("all", config, work / "secrets", work / "state", work / "home", work / "service.log",
                        selector="")
    samples: list[tuple[float, int]] = []  # (seconds since start, RSS)
    last: dict[tuple[str, str], float] = {}
    gaps: dict[tuple[str, str], float] = {}

    def sample(t0: float) -> None:
        assert instance.process is not None
        if instance.process.poll() is not None:
            raise SystemExit(f"the service exited with {instance.process.returncode}:\n{instance.log[-3000:]}")
        samples.append((time.monotonic() - t0, rss(instance.process.pid)))

    def poll_scans() -> bool:
        """Record each repository's scan times; True when every repository has been scanned."""
        try:
            repositories = status(instance)["repositories"]
        except httpx.HTTPError:
            return False  # a slow answer is itself a figure: the gaps show it
        for repo in repositories:
            if not repo["lastScan"]:
                continue
            at = datetime.fromisoformat(repo["lastScan"]).timestamp()
            key = (repo["namespace"], repo["name"])
            if key in last and at != last[key]:
                gaps[key] = max(gaps.get(key, 0.0), at - last[key])
            last[key] = at
        return bool(repositories) and all(r["lastScan"] for r in repositories)

    try:
        t0 = time.monotonic()
        instance.start()
        assert instance.process is not None
        pid = instance.process.pid
        next_poll = t0 + 2
        while True:  # start-up: until every repository has been scanned once
            time.sleep(1)
            sample(t0)
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + 2
                if poll_scans():
                    break
            if time.monotonic() - t0 > 900:
                raise SystemExit("not every repository was scanned within 900 s")
        ready = time.monotonic() - t0
        cpu_ready, _ = proc_figures(pid)
        scans0, cpu0, steady0 = scans(instance), proc_figures(pid)[0], time.monotonic()
        next_poll = steady0 + 10
        while time.monotonic() - steady0 < args.duration:
            time.sleep(1)
            sample(t0)
            if time.monotonic() >= next_poll:
                next_poll += 10
                poll_scans()
        elapsed = time.monotonic() - steady0
        cpu, hwm = proc_figures(pid)
        rate = (scans(instance) - scans0) / elapsed
    finally:
        instance.stop()
    share = 100 * (cpu - cpu0) / elapsed
    allowed = args.interval + jitter_for(args.interval) + 1  # lastScan is to the second
    worst = max(gaps.values(), default=0.0)
    slipped = sum(1 for g in gaps.values() if g > allowed)
    timeline = ", ".join(f"{mark}s {next(r for t, r in samples if t >= mark) / 2**20:.0f}"
                         for mark in MARKS if samples[-1][0] >= mark)
    return [
        f"start-up: every repository scanned once after {ready:.1f} s, {cpu_ready:.1f} s of CPU",
        f"RSS over time (MiB): {timeline}; end {samples[-1][1] / 2**20:.0f}; peak (VmHWM) {hwm / 2**20:.0f}",
        f"steady state over {elapsed:.0f} s: CPU {share:.1f} % of a core, {rate:.2f} scans/s "
        f"(expected {args.repositories / args.interval:.2f}), "
        f"CPU per scan {1000 * (cpu - cpu0) / max(1, rate * elapsed):.1f} ms",
        f"largest gap between two scans of a repository: {worst:.1f} s; {slipped} of {len(gaps)} repositories "
        f"slipped past interval+jitter {allowed:.0f} s",
    ]


async def profile_scans(work: Path, config: Path, args: argparse.Namespace) -> list[str]:
    from imagebot.service.metrics import Metrics
    from imagebot.service.runtime import Runtime, ServiceOptions
    from imagebot.store import Store

    options = ServiceOptions(config_path=config, secrets_dir=work / "secrets", state_dir=work / "state")
    with Store(options.state_dir) as store:
        runtime = Runtime(options, store, Metrics())
        runtime.install(runtime.load())
        keys = [r.key for r in runtime.generation.config.repositories]
        lines = []
        tracemalloc.start(10)
        base = tracemalloc.take_snapshot()
        started, cpu = time.perf_counter(), time.process_time()
        for key in keys:
            await runtime.scheduled_scan(key)
        first = time.process_time() - cpu
        after_first = tracemalloc.take_snapshot()
        for key in keys:
            await runtime.scheduled_scan(key)
        after_second = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after_first.compare_to(base, "filename"))
        again = sum(s.size_diff for s in after_second.compare_to(after_first, "filename"))
        lines += [f"first round of {len(keys)} scans (tracemalloc on): {time.perf_counter() - started:.1f} s, "
                  f"{1000 * first / len(keys):.1f} ms CPU per scan",
                  f"memory kept after the first round: {grown / 2**20:.2f} MiB, {grown / len(keys) / 1024:.1f} KiB per "
                  f"repository; after a second round: {again / 2**20:+.2f} MiB more",
                  "where the first round's memory stays (top 12 by line):"]
        for stat in after_first.compare_to(base, "lineno")[:12]:
            frame = stat.traceback[0]
            lines.append(f"  {stat.size_diff / 1024:9.1f} KiB {stat.count_diff:+7d} blocks  "
                         f"{os.path.relpath(frame.filename)}:{frame.lineno}")
        profiler = cProfile.Profile()
        cpu = time.process_time()
        profiler.enable()
        for key in keys:
            await runtime.scheduled_scan(key)
        profiler.disable()
        per_scan = 1000 * (time.process_time() - cpu) / len(keys)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        lines += [f"third round: {per_scan:.1f} ms CPU per scan (cProfile on; without it, see the service run)",
                  "cProfile, top 25 by cumulative time:",
                  *["  " + line for line in out.getvalue().splitlines() if line.strip()][3:]]
        await runtime.shutdown(5)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser, repositories=500, automations=0, duration=180)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with fleet("bench-load-", args) as (work, config):
        figures = (asyncio.run(profile_scans(work, config, args)) if args.profile
                   else run_service(work, config, args))
        # before the folder goes: deleting the registry's tag links can take minutes on a busy disk
        head = (f"service_load{' --profile' if args.profile else ''}: {args.repositories} repositories x "
                f"{args.tags} tags, {args.automations} automations, interval {args.interval} s ({os.cpu_count()} "
                f"CPUs shared with other work, {datetime.now().isoformat(timespec='seconds')})")
        text = "\n".join([head, *figures]) + "\n"
        print(text, end="", flush=True)
        out = args.out or HERE / "results" / ("service_load-profile.txt" if args.profile else "service_load.txt")
        out.write_text(text)


if __name__ == "__main__":
    main()
