"""The operator's git setup never runs on imagebot's checkouts: a hostile system and global config
(hooks everywhere, a filter driver on every file, an fsmonitor, a commit template) leaves no trace."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from imagebot.delivery.git import Author, Checkout, GitSource, deliver
from tests.support.gitremotes import BareRemote, bare_remote, git, isolated_git_home  # noqa: F401

AUTHOR = Author("imagebot", "imagebot@example.com")
DEPLOYMENT = "apps/app/deployment.yaml"
HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "pre-push", "post-checkout",
         "post-merge", "reference-transaction", "post-rewrite", "pre-auto-gc")


@pytest.fixture
def traces(tmp_path: Path, isolated_git_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """A global and a system config that would each leave a file in `traces` if git obeyed them."""
    traces = tmp_path / "traces"
    traces.mkdir()
    hooks = tmp_path / "evil-hooks"
    hooks.mkdir()
    for hook in HOOKS:
        script = hooks / hook
        script.write_text(f"#!/bin/sh\ntouch '{traces}/hook-{hook}'\nexit 0\n")
        script.chmod(0o755)
    attributes = tmp_path / "evil-attributes"
    attributes.write_text("* filter=evil diff=evil\n")
    template = tmp_path / "evil-template"
    template.write_text("EVIL TEMPLATE\n")
    evil = (
        f"[core]\n\thooksPath = {hooks}\n\tattributesFile = {attributes}\n"
        f"\tfsmonitor = {hooks}/fsmonitor\n"
        f"[filter \"evil\"]\n\tclean = {hooks}/clean\n\tsmudge = {hooks}/smudge\n\trequired = true\n"
        f"[commit]\n\ttemplate = {template}\n"
        f"[user]\n\tname = Operator Global\n\temail = operator@example.com\n"
    )
    (hooks / "clean").write_text(f"#!/bin/sh\ntouch '{traces}/filter-clean'\nsed s/app:/EVIL:/\n")
    (hooks / "smudge").write_text(f"#!/bin/sh\ntouch '{traces}/filter-smudge'\ncat\n")
    (hooks / "clean").chmod(0o755)
    (hooks / "smudge").chmod(0o755)
    (hooks / "fsmonitor").write_text(f"#!/bin/sh\ntouch '{traces}/fsmonitor'\nexit 1\n")
    (hooks / "fsmonitor").chmod(0o755)
    global_config = isolated_git_home / ".gitconfig"
    global_config.write_text(evil)
    system_config = tmp_path / "evil-system-gitconfig"
    system_config.write_text(evil)
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM", raising=False)
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system_config))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(tmp_path / "no-such-template-dir"))
    # the trap is armed: a plain git run with this environment does leave traces
    probe = tmp_path / "probe"
    env = dict(os.environ)
    subprocess.run(["git", "init", "-q", str(probe)], env=env, check=True)
    (probe / "f").write_text("app:1\n")
    subprocess.run(["git", "add", "f"], cwd=probe, env=env, check=True)
    assert (traces / "filter-clean").exists(), "the hostile config is not in force: the test proves nothing"
    for trace in traces.iterdir():
        trace.unlink()
    return traces


def bump(workdir: Path) -> str | None:
    path = workdir / DEPLOYMENT
    text = path.read_text()
    edited = re.sub(r"ghcr\.io/example/app:[^\s#]+", "ghcr.io/example/app:9.9.9", text)
    path.write_text(edited)
    return "app -> 9.9.9" if edited != text else None


def test_hostile_global_and_system_config_leave_no_trace(
    tmp_path: Path, bare_remote: BareRemote, traces: Path  # noqa: F811
) -> None:
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, bare_remote.branch))
    outcome = deliver(checkout, apply=bump, message=lambda c: f"Update {c}\n", author=AUTHOR,
                      push_branch="imagebot/update")
    checkout.refresh()  # fetch, checkout and reset again: the smudge side and checkout hooks

    assert outcome is not None and outcome.pushed
    assert sorted(p.name for p in traces.iterdir()) == []
    # the filter's clean side would have rewritten the file; the template would be the message
    assert "ghcr.io/example/app:9.9.9 #" in bare_remote.read(DEPLOYMENT, branch="imagebot/update")
    assert bare_remote.message(outcome.commit).strip() == "Update app -> 9.9.9"
    author = git("log", "-1", "--format=%an <%ae>|%cn <%ce>", outcome.commit, cwd=bare_remote.path).strip()
    assert author == "imagebot <imagebot@example.com>|imagebot <imagebot@example.com>"
