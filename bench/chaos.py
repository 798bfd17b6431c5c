"""Chaos: kill -9 at random points of `imagebot run --once`, then check that nothing is corrupt or lost.

Against real pieces on loopback: a docker-registry (a new tag before every run, so every run has work),
a git remote (a bare repository, or smart HTTP with --http-git) and a generic webhook receiver. Each
round starts `run --once` and kills it (SIGKILL) at one of:
  - a random time within the length of an undisturbed run (most rounds),
  - the remote's pre-receive hook (the push is cut off before the remote takes it),
  - the remote's post-receive hook (the push has landed; nothing is written down yet: issue 10, item 7).
A kill that comes after the run ended is no kill: that round counts as a completed run.
The next round's run is the recovery of the previous kill. After every kill the state database must
pass `PRAGMA integrity_check`; every run that was not killed must exit 0; at the end, one clean run,
then every commit imagebot made on the remote must be in `history` (else: lost record) and notified
exactly once (more: duplicate; none: lost, allowed only for a send a kill cut off, which is never
repeated as it may have arrived), no intent may be left unsettled, the remote's
file must hold the newest tag, and no state file may have been set aside as corrupt.

Run: .venv/bin/python bench/chaos.py [--kills 200] [--seed 1] [--http-git]
Writes bench/results/chaos.txt. Target: 200 kills, 0 corrupt, 0 lost.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from tests.run.harness import Automation, Workspace, deployment  # noqa: E402
from tests.support.gitremotes import BareRemote, HttpGitServer, git, make_bare_repo  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.webhookreceiver import WebhookReceiver  # noqa: E402

NOTIFICATION = "notification.toolkit.fluxcd.io/v1beta3"
HOOK_SHARE = 0.1  # of the rounds, each: killed from pre-receive, killed from post-receive


@dataclass
class Report:
    rounds: int = 0
    kills: int = 0
    kills_by_point: collections.Counter[str] = field(default_factory=collections.Counter)
    completed_runs: int = 0  # runs not killed (the kill came too late, or the final clean run)
    failed_runs: list[str] = field(default_factory=list)  # runs not killed that exited non-zero
    corrupt: list[str] = field(default_factory=list)
    commits: int = 0  # imagebot's commits on the remote
    recorded: int = 0
    lost_records: list[str] = field(default_factory=list)
    recoveries: int = 0  # pushes a killed run made and a later run recorded ("recorded now")
    notified: int = 0
    lost_notifications: list[str] = field(default_factory=list)
    duplicate_notifications: dict[str, int] = field(default_factory=dict)
    unsettled_intents: int = 0
    unconfirmed: int = 0  # notifications a kill cut off mid-send: never sent again ("may not have been sent")
    run_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.lost_records or self.failed_runs or self.duplicate_notifications
                    or self.unsettled_intents or len(self.lost_notifications) > self.unconfirmed)


class Chaos:
    def __init__(self, root: Path, registry: object, remote_url: str, remote: BareRemote,
                 receiver: WebhookReceiver, rng: random.Random, git_secret: str | None = None) -> None:
        self.ws = Workspace(root / "ws", registry, "chaos")  # type: ignore[arg-type]
        self.remote, self.receiver, self.rng = remote, receiver, rng
        self.pid_file = root / "kill.pid"
        self.stderr_dir = root / "stderr"
        self.stderr_dir.mkdir()
        self.tag = 0
        self.ws.secret("webhook", {"address": receiver.url("/chaos")})
        self.ws.write_config(Automation(git_url=remote_url, git_secret=git_secret), extra=[
            {"apiVersion": NOTIFICATION, "kind": "Provider", "metadata": {"name": "hook", "namespace": "flux-system"},
             "spec": {"type": "generic", "secretRef": {"name": "webhook"}}},
            {"apiVersion": NOTIFICATION, "kind": "Alert", "metadata": {"name": "all", "namespace": "flux-system"},
             "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "info",
                      "eventSources": [{"kind": "ImageUpdateAutomation", "name": "*"}]}},
        ])
        for hook in ("pre-receive", "post-receive"):  # armed by writing the pid file with the hook's name
            path = remote.path / "hooks" / hook
            path.write_text(
                f"#!/bin/sh\nf='{self.pid_file}.{hook}'\n"
                f"if [ -f \"$f\" ]; then kill -9 \"$(cat \"$f\")\"; rm -f \"$f\"; "
                + ("exit 1; " if hook == "pre-receive" else "") + "fi\nexit 0\n")
            path.chmod(0o755)

    def next_tag(self) -> None:
        self.tag += 1
        self.ws.push_tags("app", f"1.0.{self.tag}")

    def start(self) -> subprocess.Popen[bytes]:
        err = (self.stderr_dir / f"{self.tag:04d}.txt").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "imagebot", "run", "--once", "-c", str(self.ws.config), "--secrets-dir",
             str(self.ws.secrets), "--state-dir", str(self.ws.state)],
            cwd=PROJECT, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        return proc

    def clean_run(self, report: Report) -> float:
        started = time.monotonic()
        proc = self.start()
        code = proc.wait(timeout=300)
        report.completed_runs += 1
        if code != 0:
            report.failed_runs.append(f"tag 1.0.{self.tag}: exit {code}")
        return time.monotonic() - started

    def round(self, report: Report, run_seconds: float, point: str | None = None) -> None:
        self.next_tag()
        report.rounds += 1
        if point is None:
            draw = self.rng.random()
            point = "pre-receive" if draw < HOOK_SHARE else "post-receive" if draw < 2 * HOOK_SHARE else "timed"
        proc = self.start()
        if point == "timed":
            delay = self.rng.uniform(0, run_seconds)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        else:
            Path(f"{self.pid_file}.{point}").write_text(str(proc.pid))
        code = proc.wait(timeout=300)
        for hook in ("pre-receive", "post-receive"):
            Path(f"{self.pid_file}.{hook}").unlink(missing_ok=True)
        if code == -signal.SIGKILL:
            report.kills += 1
            report.kills_by_point[point] += 1
            self.check_database(report, f"after kill {report.kills} ({point})")
        else:
            report.completed_runs += 1
            if code != 0:
                report.failed_runs.append(f"tag 1.0.{self.tag}: exit {code}")

    def check_database(self, report: Report, when: str) -> None:
        db = self.ws.state / "state.db"
        if not db.exists():
            return
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as err:
            result = str(err)
        finally:
            con.close()
        if result != "ok":
            report.corrupt.append(f"state.db {when}: {result}")

    def final_checks(self, report: Report) -> None:
        self.check_database(report, "at the end")
        report.corrupt += [f"set aside as corrupt: {p.name}" for p in self.ws.state.glob("state.db.corrupt-*")]
        log = git("log", "--format=%H %an", f"refs/heads/{self.remote.branch}", cwd=self.remote.path).splitlines()
        commits = [line.split()[0] for line in log if line.endswith(" imagebot")]
        report.commits = len(commits)
        listed = self.ws.imagebot("history", "--output", "json", "--limit", "1000000",  # all, not the last 50
                                  "--state-dir", str(self.ws.state))
        assert listed.returncode == 0, listed.stderr
        history = {d["commit"] for d in json.loads(listed.stdout) if d["commit"]}
        report.recorded = len(history & set(commits))
        report.lost_records = [c for c in commits if c not in history]
        sent = collections.Counter(r.json().get("metadata", {}).get("commit") for r in self.receiver.requests
                                   if r.json().get("severity") == "info")
        report.notified = sum(1 for c in commits if sent[c])
        report.lost_notifications = [c for c in commits if not sent[c]]
        report.duplicate_notifications = {c: n for c, n in sent.items() if n > 1}
        con = sqlite3.connect(self.ws.state / "state.db")
        try:
            report.unsettled_intents = con.execute(
                "SELECT count(*) FROM intents WHERE state IN ('pushing', 'recorded', 'sending')").fetchone()[0]
        finally:
            con.close()
        text = self.remote.read("app.yaml")
        if f":1.0.{self.tag} " not in text:
            report.corrupt.append(f"the remote's app.yaml does not hold the newest tag 1.0.{self.tag}")
        logs = [p.read_text(errors="replace") for p in self.stderr_dir.iterdir()]
        report.recoveries = sum(text.count("recorded now") for text in logs)
        report.unconfirmed = sum(text.count("may not have been sent") for text in logs)


def run_chaos(kills: int, seed: int, root: Path, http_git: HttpGitServer | None = None,
              max_rounds: int | None = None, points: list[str] | None = None) -> Report:
    """Rounds until `kills` runs were killed (at most `max_rounds`, by default 3 x kills); with `points`,
    one round per entry ("timed", "pre-receive", "post-receive") instead."""
    report = Report()
    rng = random.Random(seed)
    started = time.monotonic()
    with ExitStack() as stack:
        registry = stack.enter_context(start_registry(root / "registry"))
        receiver = stack.enter_context(WebhookReceiver("generic"))
        registry.push_image("chaos/app", "1.0.0")
        files = {"app.yaml": deployment("app", f"{registry.image('chaos/app')}:1.0.0")}
        if http_git is None:
            remote = make_bare_repo(root / "remote.git", files)
            url = str(remote.path)
        else:
            remote = http_git.new_repo(f"chaos-{seed}.git", files)
            url = http_git.url_for(remote)
        chaos = Chaos(root, registry, url, remote, receiver, rng, "git-auth" if http_git else None)
        if http_git is not None:
            chaos.ws.secret("git-auth", {"username": http_git.username, "password": http_git.password})
        # an undisturbed run with work to do (after the first, which clones) sets the window of the kills
        chaos.next_tag()
        report.run_seconds = chaos.clean_run(report)
        if points is None or "timed" in points:
            chaos.next_tag()
            report.run_seconds = chaos.clean_run(report)
        if points is not None:
            for point in points:
                chaos.round(report, report.run_seconds, point)
        limit = max_rounds or 3 * kills
        while points is None and report.kills < kills and report.rounds < limit:
            chaos.round(report, report.run_seconds)
        chaos.clean_run(report)
        chaos.final_checks(report)
    report.seconds = time.monotonic() - started
    return report


def describe(report: Report, command: str, remote: str) -> str:
    lines = [
        "imagebot run --once under kill -9 (bench/chaos.py)",
        f"date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"command: {command}",
        f"git remote: {remote}",
        f"undisturbed run with work: {report.run_seconds:.2f} s (timed kills drawn uniformly from 0 to this)",
        f"rounds: {report.rounds}; kills: {report.kills} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report.kills_by_point.items()))}); "
        f"runs not killed: {report.completed_runs}",
        f"recoveries (a killed run's push recorded by a later run): {report.recoveries}",
        f"commits by imagebot on the remote: {report.commits}; recorded in history: {report.recorded}",
        f"corrupt states: {len(report.corrupt)} (target 0)" + "".join(f"\n  {c}" for c in report.corrupt),
        f"lost records: {len(report.lost_records)} (target 0)" + "".join(f"\n  {c}" for c in report.lost_records),
        f"failed runs (not killed, exit != 0): {len(report.failed_runs)}"
        + "".join(f"\n  {c}" for c in report.failed_runs[:20]),
        f"notifications: {report.notified} of {report.commits} commits notified; "
        f"lost {len(report.lost_notifications)} (of which cut off mid-send by a kill, never sent again as they "
        f"may have arrived: at most {report.unconfirmed}); sent twice or more: {len(report.duplicate_notifications)} "
        "(target 0)",
        f"intents left unsettled: {report.unsettled_intents}",
        f"wall time: {report.seconds:.0f} s",
        f"result: {'OK' if report.ok else 'FAILED'}",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http-git", action="store_true", help="smart HTTP with Basic auth instead of a path")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "chaos.txt")
    args = parser.parse_args()
    command = "bench/chaos.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="imagebot-chaos-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        env = {"HOME": str(root / "home"), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
               "NO_PROXY": "*"}
        (root / "home").mkdir()
        os.environ.update(env)
        server = None
        if args.http_git:
            server = HttpGitServer(root / "http-git")
            server.root.mkdir()
            server.start()
            stack.callback(server.stop)
        report = run_chaos(args.kills, args.seed, root, server)
    text = describe(report, f".venv/bin/python {command}".strip(),
                    "smart HTTP (git-http-backend, Basic auth)" if args.http_git else "bare repository by path")
    sys.stdout.write(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("a") as out:
        out.write(text + "\n")
    (args.output.with_suffix(".json")).write_text(json.dumps({
        "kills": report.kills, "rounds": report.rounds, "recoveries": report.recoveries,
        "corrupt": len(report.corrupt), "lost_records": len(report.lost_records),
        "lost_notifications": len(report.lost_notifications),
        "duplicate_notifications": len(report.duplicate_notifications), "commits": report.commits,
        "failed_runs": len(report.failed_runs), "unsettled_intents": report.unsettled_intents,
        "unconfirmed_notifications": report.unconfirmed,
    }, indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
