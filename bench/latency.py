"""Benchmark: registry push -> commit on the remote, through `imagebot run` as a service; idle CPU.

A real docker-registry notifies imagebot (/hook/...) on every push; every interval is an hour,
so only the notification can explain a commit. For each of N pushes the clock starts just before
the manifest PUT (the blobs are already uploaded) and stops when the remote's branch moves.
Then the service is left alone for 60 s and its CPU time (utime+stime from /proc/PID/stat) is read.

Run: .venv/bin/python bench/latency.py [--pushes 20] [--idle 60] [--http-git] [--trace]
Writes bench/results/latency.txt. Targets: p50 under 1 s (issue 16: under 250 ms over smart HTTP);
idle CPU under 1 %. --trace runs the service with debug logs and adds where each push's time went:
the service's log lines (webhook, scan, delivery phases, each git command with its duration) and,
over smart HTTP, each git-http-backend run of the test server, as medians over the pushes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from tests.service_run._stack import REPOSITORY, Service, service_stack  # noqa: E402
from tests.support.gitremotes import HttpGitServer  # noqa: E402
from tests.support.registry import OCI_MANIFEST  # noqa: E402

TARGET_P50 = 1.0
TARGET_IDLE_CPU = 1.0  # percent of one core


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), counted after "pid (comm)"
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def branch_sha(service: Service) -> str:
    loose = service.remote.path / "refs" / "heads" / "main"
    try:
        return loose.read_text().strip()  # receive-pack writes loose refs: a read, not a git process
    except FileNotFoundError:
        return service.remote.head()


def push_and_wait(service: Service, tag: str, created: datetime, timeout: float = 30.0) -> float:
    """Seconds from the manifest PUT to the new commit on the remote (blobs uploaded beforehand)."""
    registry = service.registry
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": created.isoformat(),
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = f"layer of {tag}".encode()
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": registry.push_blob(REPOSITORY, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(layer),
                    "digest": registry.push_blob(REPOSITORY, layer)}],
    }
    before = branch_sha(service)
    started = time.monotonic()
    registry.put_manifest(REPOSITORY, tag, manifest)
    deadline = started + timeout
    while time.monotonic() < deadline:
        if branch_sha(service) != before:
            return time.monotonic() - started
        time.sleep(0.002)
    raise SystemExit(f"no commit for {tag} within {timeout}s; the service's log ends:\n{service.log[-4000:]}")


def trace_of(service: Service, git_server: HttpGitServer | None, start: float, end: float,
             landed: float) -> list[tuple[str, float, float]]:
    """(what, ms after the PUT at its end, ms it took) for the log lines and backend runs of one push."""
    events: list[tuple[str, float, float]] = []
    for entry in service.log_events():
        at = datetime.fromisoformat(str(entry["time"])).timestamp()
        if not start <= at <= end:
            continue
        message, logger = str(entry["message"]), str(entry.get("logger", ""))
        if "git_ms" in entry:
            events.append((f"git {entry['git']}", at, float(entry["git_ms"])))  # type: ignore[arg-type]
        elif logger == "git.cmd" and message.startswith("Popen("):  # GitPython starting a git of its own
            events.append(("GitPython: " + " ".join(message.split("'")[1:4:2]), at, 0.0))
        elif logger.startswith("imagebot") and "ignored:" not in message:  # not the registry's pull events
            label = re.sub(r"\b[0-9a-f]{12}\b|\d[\d.:]*", "N", message.split(" in ")[0].split(" receiver=")[0])
            events.append((label[:40], at, 0.0))
    if git_server is not None:
        for began, seconds, method, path in git_server.backend_runs:
            if start <= began <= end:
                name = path.rsplit("/", 1)[-1].split("?service=")[-1]
                events.append((f"  server: http-backend {method} {name}", began + seconds, 1000 * seconds))
    events.append(("commit seen on the remote (bench)", landed, 0.0))
    events.sort(key=lambda e: e[1])
    return [(what, 1000 * (at - start), took) for what, at, took in events]


def trace_table(traces: list[list[tuple[str, float, float]]]) -> list[str]:
    """Medians over the pushes, by step: the n-th occurrence of a step in each push is one step."""
    steps: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for trace in traces:
        seen: dict[str, int] = {}
        for what, at, took in trace:
            seen[what] = seen.get(what, 0) + 1
            steps.setdefault((what, seen[what]), []).append((at, took))
    common = {key: runs for key, runs in steps.items() if len(runs) * 2 > len(traces)}  # most pushes' steps
    rows = sorted(((statistics.median(a for a, _ in runs), statistics.median(t for _, t in runs), key[0])
                   for key, runs in common.items()))
    lines = [f"trace: medians over {len(traces)} pushes (ms after the manifest PUT; 'took' is how long a git "
             "command or a server run took, 'gap' the time since the row above)",
             f"  {'step':<44} {'at':>7} {'gap':>6} {'took':>6}"]
    previous = 0.0
    for at, took, what in rows:
        lines.append(f"  {what:<44} {at:7.1f} {at - previous:6.1f} " + (f"{took:6.1f}" if took else ""))
        previous = at
    git_total = [sum(took for what, _, took in t if what.startswith("git ")) for t in traces]
    server_total = [sum(took for what, _, took in t if "server:" in what) for t in traces]
    lines.append(f"  git processes, total: {statistics.median(git_total):.1f} ms (median per push); the server's "
                 f"git-http-backend runs during them: {statistics.median(server_total):.1f} ms")
    return lines


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    parser.add_argument("--http-git", action="store_true",
                        help="push over smart HTTP (git-http-backend) instead of a file:// remote")
    parser.add_argument("--trace", action="store_true",
                        help="debug logs on: add a table of where each push's time went")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latency.txt")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="imagebot-latency-") as tmp:
        git_server = None
        if args.http_git:
            git_server = HttpGitServer(Path(tmp) / "git")
            git_server.root.mkdir()
            git_server.start()
        try:
            with service_stack(Path(tmp) / "stack", slack=args.http_git, git_server=git_server,
                               args=["--log-level", "debug"] if args.trace else []) as service:
                service.wait_log("run finished", timeout=20)  # the startup run
                time.sleep(0.5)
                base = datetime(2024, 1, 1, tzinfo=UTC)
                latencies, traces = [], []
                for i in range(args.pushes):
                    latency = push_and_wait(service, f"1.{i + 1}.0", base + timedelta(minutes=i))
                    landed = time.time()
                    latencies.append(latency)
                    print(f"push {i + 1:2d}: {latency * 1000:7.1f} ms", flush=True)
                    time.sleep(0.3)  # let the run's tail (record, notify) finish: pushes measured one by one
                    if args.trace:
                        service.wait_log("run finished", count=i + 2)
                        traces.append(trace_of(service, git_server, landed - latency, time.time(), landed))
                metrics = service.metrics()
                internal_count = metrics.get(("imagebot_push_to_commit_seconds_count", ()), 0.0)
                internal_sum = metrics.get(("imagebot_push_to_commit_seconds_sum", ()), 0.0)

                time.sleep(2.0)  # notifications and the last requests settle
                pid = service.process.pid
                cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
                time.sleep(args.idle)
                cpu_used, wall = cpu_seconds(pid) - cpu_before, time.monotonic() - wall_before
                idle_percent = 100.0 * cpu_used / wall
                assert service.stop() == 0
        finally:
            if git_server is not None:
                git_server.stop()

    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    lines = [
        "imagebot run (service): registry manifest PUT -> commit on the remote",
        f"date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (shared machine)",
        f"command: .venv/bin/python bench/latency.py --pushes {args.pushes} --idle {args.idle:g}"
        + (" --http-git" if args.http_git else "") + (" --trace" if args.trace else ""),
        "git remote: " + ("smart HTTP (tests/support/gitremotes.py: a git-http-backend CGI process per request, "
                          "behind a stdlib threading HTTP server with TCP_NODELAY, Basic auth)"
                          if args.http_git else "file://"),
        f"pushes: {len(latencies)}",
        f"p50: {p50 * 1000:.0f} ms (target < {TARGET_P50 * 1000:.0f} ms) {'OK' if p50 < TARGET_P50 else 'MISSED'}",
        f"p95: {p95 * 1000:.0f} ms",
        f"min/max: {min(latencies) * 1000:.0f} / {max(latencies) * 1000:.0f} ms",
        f"imagebot's own push_to_commit histogram: {internal_count:.0f} observations, "
        f"mean {1000 * internal_sum / internal_count if internal_count else 0:.0f} ms "
        "(webhook arrival to the end of the run: excludes the registry's notification delay, includes the "
        "run's bookkeeping after the push)",
        f"idle CPU over {wall:.0f} s: {cpu_used:.3f} s of CPU = {idle_percent:.3f} % "
        f"(target < {TARGET_IDLE_CPU:g} %) {'OK' if idle_percent < TARGET_IDLE_CPU else 'MISSED'}",
    ]
    if traces:
        lines += trace_table(traces)
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists() and args.http_git:
        text = args.out.read_text() + "\n" + text  # the file:// run first, then this one
    args.out.write_text(text)
    print(text, end="")
    return 0 if p50 < TARGET_P50 and idle_percent < TARGET_IDLE_CPU else 1


if __name__ == "__main__":
    raise SystemExit(main())
