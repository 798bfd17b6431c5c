"""`imagebot plan`: the diff each automation would commit, against --repo or a checkout, writing nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import git, make_bare_repo


def plan(workspace: Workspace, *extra: str) -> subprocess.CompletedProcess[str]:
    return workspace.imagebot("plan", "-c", str(workspace.config), "--secrets-dir", str(workspace.secrets),
                              "--state-dir", str(workspace.state), *extra)


def test_plan_prints_an_applicable_diff_from_a_checkout_and_pushes_nothing(workspace: Workspace,
                                                                           tmp_path: Path) -> None:
    app = workspace.image("app")
    files = {"clusters/prod/app.yaml": deployment("app", f"{app}:1.0.0")}
    remote = make_bare_repo(tmp_path / "remote.git", files)
    workspace.push_tags("app", "1.0.0", "1.2.0")
    workspace.write_config(Automation(git_url=str(remote.path), path="./clusters"))
    before = remote.head()

    result = plan(workspace)

    assert result.returncode == 0, explain(result)
    assert remote.head() == before
    assert "# ImageUpdateAutomation flux-system/apps: 1 change(s) in 1 file(s)" in result.stdout
    assert f"-          image: {app}:1.0.0 #" in result.stdout
    assert f"+          image: {app}:1.2.0 #" in result.stdout
    # paths are from the repository root, so the diff applies there as it is
    assert "--- a/clusters/prod/app.yaml" in result.stdout
    clone = tmp_path / "clone"
    git("clone", "-q", str(remote.path), str(clone))
    diff = result.stdout.split("\n", 1)[1]
    subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=clone, check=True)
    assert (clone / "clusters/prod/app.yaml").read_text() == files["clusters/prod/app.yaml"].replace(
        f"{app}:1.0.0", f"{app}:1.2.0")


def test_plan_against_a_working_copy_with_exit_code(workspace: Workspace, tmp_path: Path) -> None:
    app = workspace.image("app")
    repo = tmp_path / "work"
    (repo / "apps").mkdir(parents=True)
    manifest = repo / "apps" / "app.yaml"
    manifest.write_text(deployment("app", f"{app}:1.0.0"))
    workspace.push_tags("app", "1.0.0", "1.3.0")
    workspace.write_config(Automation(git_url="https://git.invalid/never-cloned.git"))

    changed = plan(workspace, "--repo", str(repo), "--exit-code")
    assert changed.returncode == 2, explain(changed)
    assert f"+          image: {app}:1.3.0" in changed.stdout
    assert manifest.read_text() == deployment("app", f"{app}:1.0.0")  # nothing written

    manifest.write_text(deployment("app", f"{app}:1.3.0"))
    settled = plan(workspace, "--repo", str(repo), "--exit-code")
    assert settled.returncode == 0, explain(settled)
    assert "nothing to do" in settled.stdout
