"""Automations on different repositories are delivered side by side; outcomes stay in config order."""

from __future__ import annotations

import json
from pathlib import Path

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import make_bare_repo


def test_automations_on_different_remotes_push_at_the_same_time(workspace: Workspace, tmp_path: Path) -> None:
    app = workspace.image("app")
    workspace.push_tags("app", "1.0.0", "1.1.0")
    automations = []
    for name in ("alpha", "beta"):
        remote = make_bare_repo(tmp_path / f"{name}.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
        # each push takes a while; the hook writes when it starts and ends
        hook = remote.path / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\ndate +%s.%N >> '{tmp_path}/{name}.times'\nsleep 1\n"
                        f"date +%s.%N >> '{tmp_path}/{name}.times'\n")
        hook.chmod(0o755)
        automations.append(Automation(name=name, git_url=str(remote.path)))
    workspace.write_config(*automations)

    result = workspace.imagebot("run", "--once", "--output", "json", "-c", str(workspace.config),
                                "--state-dir", str(workspace.state))

    assert result.returncode == 0, explain(result)
    assert [(a["name"], a["status"]) for a in json.loads(result.stdout)["automations"]] == [
        ("alpha", "committed"), ("beta", "committed")]
    (a_start, a_end), (b_start, b_end) = (
        [float(t) for t in (tmp_path / f"{name}.times").read_text().split()] for name in ("alpha", "beta"))
    assert a_start < b_end and b_start < a_end, "the two pushes overlapped"
