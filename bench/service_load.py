"""Benchmark: one `imagebot run` service scanning many repositories on short intervals.

A local registry holds R repositories of T tags each; the config has R ImageRepositories and semver
ImagePolicies on an interval of I seconds (and A automations, none by default). The service runs for
D seconds after every repository's first scan. Figures: RSS over time (VmRSS from /proc, sampled each
second from the start), peak RSS (VmHWM), CPU share of one core at start-up and in the steady state,
scans per second and failed scans (/metrics imagebot_scans_total), CPU per scan, the largest gap
between two scans of one repository (/status lastScan, polled every 10 s so that the poll itself costs
the service little), how many repositories slipped past the interval plus its jitter (and the worst
of them), and the warnings and errors the service logged meanwhile.

`--profile` instead runs the service's scan path in this process (Runtime.scheduled_scan, one
repository at a time, as the scheduler calls it, with the service's JSON logging): CPU per scan over
a first round and over later rounds, and the top of a cProfile by cumulative and by own time. With
`--memory`, also where memory stays (tracemalloc: growth over the first round, per repository, and
over a second round, which should be none).

Run: .venv/bin/python bench/service_load.py [--repositories 500] [--tags 200] [--interval 60]
     [--duration 180] [--automations 0] [--profile [--memory] [--rounds 2]]
Writes bench/results/service_load.txt (service_load-profile.txt with --profile; --out to change).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import pstats
import sys
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from service_shards import (  # noqa: E402
    POLL_EVERY,
    ScanWatch,
    add_load_options,
    fleet,
    log_problems,
    proc_figures,
    scan_figures,
    scans,
)

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
    watch = ScanWatch(args.interval + jitter_for(args.interval) + 1)  # lastScan is to the second

    def sample(t0: float) -> None:
        assert instance.process is not None
        if instance.process.poll() is not None:
            raise SystemExit(f"the service exited with {instance.process.returncode}:\n{instance.log[-3000:]}")
        samples.append((time.monotonic() - t0, rss(instance.process.pid)))

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
                repositories = watch.poll(instance)
                if repositories and all(r["lastScan"] for r in repositories):
                    break
            if time.monotonic() - t0 > 900:
                raise SystemExit("not every repository was scanned within 900 s")
        ready = time.monotonic() - t0
        cpu_ready, _ = proc_figures(pid)
        scans0, cpu0, steady0, since = scans(instance), proc_figures(pid)[0], time.monotonic(), time.time()
        watch.worst.clear()  # start-up gaps are the start-up figure's business
        next_poll = steady0 + POLL_EVERY
        while time.monotonic() - steady0 < args.duration:
            time.sleep(1)
            sample(t0)
            if time.monotonic() >= next_poll:
                next_poll += POLL_EVERY
                watch.poll(instance)
        elapsed, until = time.monotonic() - steady0, time.time()
        cpu, hwm = proc_figures(pid)
        rate, failed = scan_figures(scans0, scans(instance), elapsed)
    finally:
        instance.stop()
    share = 100 * (cpu - cpu0) / elapsed
    timeline = ", ".join(f"{mark}s {next(r for t, r in samples if t >= mark) / 2**20:.0f}"
                         for mark in MARKS if samples[-1][0] >= mark)
    problems = log_problems(instance.log_path, since, until)
    return [
        f"start-up: every repository scanned once after {ready:.1f} s, {cpu_ready:.1f} s of CPU",
        f"RSS over time (MiB): {timeline}; end {samples[-1][1] / 2**20:.0f}; peak (VmHWM) {hwm / 2**20:.0f}",
        f"steady state over {elapsed:.0f} s: CPU {share:.1f} % of a core, {rate:.2f} scans/s "
        f"(expected {args.repositories / args.interval:.2f}), "
        f"CPU per scan {1000 * (cpu - cpu0) / max(1, rate * elapsed):.1f} ms, {failed}",
        *watch.report(),
        f"warnings and errors logged in the steady state: {'none' if not problems else ''}",
        *[f"  {p}" for p in problems],
    ]


class GcTimes:
    """gc.callbacks entry: how many collections of each generation ran, and how long they took."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count[info["generation"]] += 1
            self.seconds[info["generation"]] += time.perf_counter() - self._started

    def describe(self, scans: int) -> str:
        return ", ".join(f"generation {g}: {self.count[g]} in {1000 * self.seconds[g]:.0f} ms" for g in range(3)) + \
            f" ({1000 * sum(self.seconds) / max(1, scans):.3f} ms a scan; {len(gc.get_objects())} objects tracked)"


async def profile_scans(work: Path, config: Path, args: argparse.Namespace) -> list[str]:
    from imagebot.logs import setup_logging
    from imagebot.service.metrics import Metrics
    from imagebot.service.runtime import Runtime, ServiceOptions
    from imagebot.store import Store

    # The service's logging (JSON lines at info, one per scan), into a file as a service's stderr would go.
    setup_logging("json", "info")
    log_file = (work / "profile.log").open("w")
    logging.getLogger().handlers[0].setStream(log_file)  # type: ignore[attr-defined]
    options = ServiceOptions(config_path=config, secrets_dir=work / "secrets", state_dir=work / "state")
    with Store(options.state_dir) as store:
        runtime = Runtime(options, store, Metrics())
        runtime.install(runtime.load())
        keys = [r.key for r in runtime.generation.config.repositories]

        collections = GcTimes()
        gc.callbacks.append(collections)

        async def round_of_scans() -> float:
            """CPU seconds per scan over one scan of every repository, one at a time."""
            cpu = time.process_time()
            for key in keys:
                await runtime.scheduled_scan(key)
            return (time.process_time() - cpu) / len(keys)

        lines = []
        if args.memory:
            tracemalloc.start(10)
            base = tracemalloc.take_snapshot()
        started = time.perf_counter()
        first = await round_of_scans()
        lines.append(f"first round of {len(keys)} scans{' (tracemalloc on)' if args.memory else ''}: "
                     f"{time.perf_counter() - started:.1f} s, {1000 * first:.2f} ms CPU per scan")
        if args.memory:
            after_first = tracemalloc.take_snapshot()
            await round_of_scans()
            after_second = tracemalloc.take_snapshot()
            tracemalloc.stop()
            grown = sum(s.size_diff for s in after_first.compare_to(base, "filename"))
            again = sum(s.size_diff for s in after_second.compare_to(after_first, "filename"))
            lines += [f"memory kept after the first round: {grown / 2**20:.2f} MiB, {grown / len(keys) / 1024:.1f} "
                      f"KiB per repository; after a second round: {again / 2**20:+.2f} MiB more",
                      "where the first round's memory stays (top 12 by line):"]
            for stat in after_first.compare_to(base, "lineno")[:12]:
                frame = stat.traceback[0]
                lines.append(f"  {stat.size_diff / 1024:9.1f} KiB {stat.count_diff:+7d} blocks  "
                             f"{os.path.relpath(frame.filename)}:{frame.lineno}")
        collections.reset()
        plain = min([await round_of_scans() for _ in range(args.rounds)])
        lines.append(f"then, best of {args.rounds} rounds without a profiler: {1000 * plain:.2f} ms CPU per scan "
                     "(one at a time: no scheduler, no concurrency, no /status reads)")
        lines.append(f"garbage collection over those rounds: {collections.describe(args.rounds * len(keys))}")
        gc.callbacks.remove(collections)
        profiler = cProfile.Profile()
        profiler.enable()
        profiled = await round_of_scans()
        profiler.disable()
        lines.append(f"one more round under cProfile: {1000 * profiled:.2f} ms CPU per scan")
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(30)
            lines += [f"cProfile, top 30 by {order} time:",
                      *["  " + line for line in out.getvalue().splitlines() if line.strip()][3:]]
        await runtime.shutdown(5)
    log_file.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser, repositories=500, automations=0, duration=180)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", action="store_true", help="with --profile: tracemalloc over the first rounds")
    parser.add_argument("--rounds", type=int, default=2, help="with --profile: rounds timed without a profiler")
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
