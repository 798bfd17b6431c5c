"""`imagebot run --once` against a bare repository by path: the commit, its diff and message, history."""

from __future__ import annotations

from pathlib import Path

from tests.run.harness import Automation, Workspace, deployment, explain, helm_values
from tests.support.gitremotes import git, make_bare_repo


def seed(workspace: Workspace, tmp_path: Path):
    app, web = workspace.image("app"), workspace.image("web")
    files = {
        "clusters/prod/app.yaml": deployment("app", f"{app}:1.0.0"),
        "clusters/prod/web.yaml": deployment("web", f"{web}:2.0.0"),
        "charts/app/values.yaml": helm_values(app, "1.0.0"),
        "README.md": "not yaml at all: {\n",
    }
    return make_bare_repo(tmp_path / "remote.git", files), files


def test_commit_lands_with_exact_diff_and_named_changes(workspace: Workspace, tmp_path: Path) -> None:
    remote, files = seed(workspace, tmp_path)
    workspace.push_tags("app", "1.0.0", "1.1.0", "0.9.0")
    workspace.push_tags("web", "2.0.0", "2.1.0")
    workspace.write_config(Automation(git_url=str(remote.path)), images=("app", "web"))
    before = remote.head()

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    head = remote.head()
    assert head != before and remote.parents(head) == [before]
    app, web = workspace.image("app"), workspace.image("web")
    # only the marked bytes changed: every file equals the original with the values replaced
    assert remote.read("clusters/prod/app.yaml") == files["clusters/prod/app.yaml"].replace(
        f"{app}:1.0.0", f"{app}:1.1.0")
    assert remote.read("clusters/prod/web.yaml") == files["clusters/prod/web.yaml"].replace(
        f"{web}:2.0.0", f"{web}:2.1.0")
    assert remote.read("charts/app/values.yaml") == files["charts/app/values.yaml"].replace(
        'tag: "1.0.0"', 'tag: "1.1.0"')
    changed = git("diff", "--name-only", before, head, cwd=remote.path).split()
    assert sorted(changed) == ["charts/app/values.yaml", "clusters/prod/app.yaml", "clusters/prod/web.yaml"]
    author = git("log", "-1", "--format=%an <%ae>|%cn <%ce>", head, cwd=remote.path).strip()
    assert author == "imagebot <imagebot@example.com>|imagebot <imagebot@example.com>"

    message = remote.message(head)
    lines = message.splitlines()
    assert lines[0].startswith("Update ")
    # every change old -> new, grouped under its file
    for file, old, new in [
        ("clusters/prod/app.yaml", f"{app}:1.0.0", f"{app}:1.1.0"),
        ("clusters/prod/web.yaml", f"{web}:2.0.0", f"{web}:2.1.0"),
        ("charts/app/values.yaml", "1.0.0", "1.1.0"),
    ]:
        assert file in lines, message
        section = lines[lines.index(file) + 1:]
        assert any(f"{old} -> {new}" in line for line in section[:3]), message

    assert "- : " not in message  # a change outside any object (Helm values) has no empty label
    assert "- 1.0.0 -> 1.1.0 (flux-system:app:tag)" in lines
    assert f"committed {head[:12]} to main (3 change(s))" in result.stdout

    text = workspace.imagebot("history", "--state-dir", str(workspace.state))
    assert f"flux-system/apps  {head[:12]} -> main" in text.stdout
    assert "    charts/app/values.yaml: 1.0.0 -> 1.1.0" in text.stdout.splitlines()
    history = workspace.history()
    assert len(history) == 1
    entry = history[0]
    assert entry["automation"] == "flux-system/apps"
    assert entry["commit"] == head and entry["branch"] == "main" and entry["pullRequest"] is None
    assert {(c["file"], c["old"], c["new"]) for c in entry["changes"]} == {
        ("clusters/prod/app.yaml", f"{app}:1.0.0", f"{app}:1.1.0"),
        ("clusters/prod/web.yaml", f"{web}:2.0.0", f"{web}:2.1.0"),
        ("charts/app/values.yaml", "1.0.0", "1.1.0"),
    }


def test_second_run_makes_no_commit_and_no_push(workspace: Workspace, tmp_path: Path) -> None:
    remote, files = seed(workspace, tmp_path)
    workspace.push_tags("app", "1.0.0", "1.2.0")
    workspace.push_tags("web", "2.0.0")
    # only clusters/ is updated; paths stay relative to the repository
    workspace.write_config(Automation(git_url=remote.url, path="./clusters"), images=("app", "web"))
    first = workspace.run()
    assert first.returncode == 0, explain(first)
    head = remote.head()
    assert remote.read("charts/app/values.yaml") == files["charts/app/values.yaml"]
    [entry] = workspace.history()
    assert [c["file"] for c in entry["changes"]] == ["clusters/prod/app.yaml"]
    assert "clusters/prod/app.yaml" in remote.message(head).splitlines()
    # the clone is cached and fetched again, not cloned afresh
    [cache] = [p for p in (workspace.state / "git").iterdir() if p.is_dir()]  # beside it: its lock file
    marker = cache / ".git" / "kept-between-runs"
    marker.write_text("")
    # a hook that would record any push attempt
    pushes = tmp_path / "pushes.log"
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho pushed >> '{pushes}'\n")
    hook.chmod(0o755)

    second = workspace.run()

    assert second.returncode == 0, explain(second)
    assert remote.head() == head
    assert not pushes.exists()
    assert "nothing to do" in second.stdout
    assert first.stdout.splitlines()[-1] == "ok: 1 committed"
    assert second.stdout.splitlines()[-1] == "ok: 1 unchanged"
    assert len(workspace.history()) == 1
    assert marker.exists()


def test_json_output_says_what_each_automation_did(workspace: Workspace, tmp_path: Path) -> None:
    import json

    remote, _ = seed(workspace, tmp_path)
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.push_tags("web", "2.0.0")
    workspace.write_config(Automation(git_url=str(remote.path)), images=("app", "web"))
    args = ("run", "--once", "--output", "json", "-c", str(workspace.config), "--secrets-dir",
            str(workspace.secrets), "--state-dir", str(workspace.state))

    first = workspace.imagebot(*args)
    assert first.returncode == 0, explain(first)
    document = json.loads(first.stdout)
    assert {p["name"]: p["latest"]["tag"] for p in document["policies"]} == {"app": "1.1.0", "web": "2.0.0"}
    [automation] = document["automations"]
    assert automation["status"] == "committed" and automation["commit"] == remote.head()
    app = workspace.image("app")
    assert {(c["file"], c["old"], c["new"]) for c in automation["changes"]} == {
        ("clusters/prod/app.yaml", f"{app}:1.0.0", f"{app}:1.1.0"),
        ("charts/app/values.yaml", "1.0.0", "1.1.0"),
    }

    second = json.loads(workspace.imagebot(*args).stdout)
    assert second["automations"][0]["status"] == "unchanged" and second["automations"][0]["changes"] == []
