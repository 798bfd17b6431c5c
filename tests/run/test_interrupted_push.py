"""A run killed between its push and its record: the next run finds the commit on the remote, records
it (history shows it) and notifies it, once; nothing is committed twice."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.run.harness import ROOT, Automation, Workspace, deployment, explain
from tests.support.gitremotes import BareRemote, make_bare_repo
from tests.support.webhookreceiver import Reply, WebhookReceiver


def notified_config(workspace: Workspace, remote: BareRemote, receiver: WebhookReceiver) -> None:
    workspace.write_config(Automation(git_url=str(remote.path)),
                           extra=workspace.alerting("generic", "hook", receiver.url("/flux")))


def start_run(workspace: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imagebot", "run", "--once", "-c", str(workspace.config), "--secrets-dir",
         str(workspace.secrets), "--state-dir", str(workspace.state)],
        cwd=ROOT, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def kill_after_push(remote: BareRemote, pid_file: Path) -> None:
    """The remote's post-receive hook kills imagebot (kill -9) once the push has landed, before it can
    write anything down: the window the issue found."""
    hook = remote.path / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\nif [ -f '{pid_file}' ]; then kill -9 \"$(cat '{pid_file}')\"; "
                    f"rm -f '{pid_file}'; fi\n")
    hook.chmod(0o755)


def commit_events(receiver: WebhookReceiver) -> list[str]:
    return [r.json()["metadata"]["commit"] for r in receiver.requests if r.json()["severity"] == "info"]


def test_a_push_killed_before_its_record_is_recorded_and_notified_once_by_the_next_run(
    workspace: Workspace, tmp_path: Path, webhook_receiver: Callable[..., WebhookReceiver]
) -> None:
    receiver = webhook_receiver("generic")
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    before = remote.head()
    workspace.push_tags("app", "1.0.0", "1.6.0")
    notified_config(workspace, remote, receiver)
    pid_file = tmp_path / "imagebot.pid"
    kill_after_push(remote, pid_file)

    killed = start_run(workspace)
    pid_file.write_text(str(killed.pid))
    killed.communicate(timeout=120)
    # the hook removes the file after its kill: imagebot can be reaped before the hook gets that far
    deadline = time.monotonic() + 10
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert killed.returncode == -signal.SIGKILL and not pid_file.exists()
    pushed = remote.head()
    assert pushed != before and remote.parents(pushed) == [before] and f"{app}:1.6.0" in remote.read("app.yaml")
    assert workspace.history() == [] and receiver.requests == []  # the state the issue reported

    second = workspace.run()

    assert second.returncode == 0, explain(second)
    assert remote.head() == pushed, "the change was on the remote already: nothing is committed again"
    [delivery] = workspace.history()
    assert delivery["commit"] == pushed and delivery["branch"] == "main"
    assert delivery["changes"] == [{"file": "app.yaml", "object": "Deployment apps/app", "old": f"{app}:1.0.0",
                                    "new": f"{app}:1.6.0", "setter": "flux-system:app"}]
    assert commit_events(receiver) == [pushed]
    event = receiver.requests[0].json()
    assert event["changes"] == [{"file": "app.yaml", "object": "Deployment apps/app", "old": f"{app}:1.0.0",
                                 "new": f"{app}:1.6.0"}]
    assert "recorded now" in second.stderr

    third = workspace.run()

    assert third.returncode == 0, explain(third)
    assert len(workspace.history()) == 1 and commit_events(receiver) == [pushed], "never twice"


def test_a_push_that_never_landed_is_forgotten_and_made_again(
    workspace: Workspace, tmp_path: Path, webhook_receiver: Callable[..., WebhookReceiver]
) -> None:
    receiver = webhook_receiver("generic")
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    before = remote.head()
    workspace.push_tags("app", "1.0.0", "1.6.0")
    notified_config(workspace, remote, receiver)
    pid_file = tmp_path / "imagebot.pid"
    # killed from the pre-receive hook: the push is cut off before the remote takes it
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nif [ -f '{pid_file}' ]; then kill -9 \"$(cat '{pid_file}')\"; rm -f '{pid_file}'; "
                    "exit 1; fi\n")
    hook.chmod(0o755)

    killed = start_run(workspace)
    pid_file.write_text(str(killed.pid))
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL and remote.head() == before

    second = workspace.run()

    assert second.returncode == 0, explain(second)
    pushed = remote.head()
    assert remote.parents(pushed) == [before]
    assert [d["commit"] for d in workspace.history()] == [pushed]
    assert commit_events(receiver) == [pushed]


def test_a_notification_cut_off_by_a_kill_is_never_sent_twice(
    workspace: Workspace, tmp_path: Path, webhook_receiver: Callable[..., WebhookReceiver]
) -> None:
    receiver = webhook_receiver("generic")
    receiver.script(Reply(hang=True))  # the first send never gets its answer: imagebot is killed meanwhile
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.6.0")
    notified_config(workspace, remote, receiver)

    killed = start_run(workspace)
    receiver.wait_for(1, timeout=60)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    pushed = remote.head()
    assert [d["commit"] for d in workspace.history()] == [pushed]

    second = workspace.run()
    third = workspace.run()

    assert second.returncode == 0 and third.returncode == 0, explain(second) + explain(third)
    # it reached the receiver, and imagebot cannot know that: it says so and never sends it again
    assert commit_events(receiver) == [pushed]
    assert "may not have been sent" in second.stderr and "may not have been sent" not in third.stderr
    assert [d["commit"] for d in workspace.history()] == [pushed]


def test_a_recorded_delivery_whose_run_died_before_notifying_is_notified_by_the_next_run(
    workspace: Workspace, tmp_path: Path, webhook_receiver: Callable[..., WebhookReceiver]
) -> None:
    receiver = webhook_receiver("generic")
    receiver.default = Reply(status=500)  # the first run's notification never gets through ...
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.6.0")
    notified_config(workspace, remote, receiver)
    assert workspace.run().returncode == 0
    pushed = remote.head()
    # ... and the state is put back to where a kill right after the record leaves it: recorded, not yet
    # handed to the notifiers, by a process that is gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    db = sqlite3.connect(workspace.state / "state.db")
    with db:
        db.execute("UPDATE intents SET state='recorded', owner=?", (f"{socket.gethostname()}:{dead.pid}",))
    db.close()
    receiver.requests.clear()
    receiver.default = Reply()

    second = workspace.run()
    third = workspace.run()

    assert second.returncode == 0 and third.returncode == 0, explain(second) + explain(third)
    assert commit_events(receiver) == [pushed]
    assert [d["commit"] for d in workspace.history()] == [pushed]
