"""Remotes that need credentials (smart HTTP with Basic auth, SSH), a concurrent writer, a broken remote."""

from __future__ import annotations

from pathlib import Path

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import BareRemote, HttpGitServer, SshGitServer, commit_on_remote, git, make_bare_repo


def manifests(workspace: Workspace, tag: str = "1.0.0") -> dict[str, str]:
    return {"apps/app.yaml": deployment("app", f"{workspace.image('app')}:{tag}"), "README.md": "deploy\n"}


def cache_configs(workspace: Workspace) -> list[Path]:
    found = sorted((workspace.state / "git").glob("*/.git/config"))
    assert found, "no cached clone under the state dir"
    return found


def test_smart_http_with_basic_auth_keeps_the_password_out_of_everything(
    workspace: Workspace, http_git_server: HttpGitServer
) -> None:
    remote = http_git_server.new_repo(f"{workspace.prefix.replace('/', '-')}.git", manifests(workspace))
    password = http_git_server.password
    workspace.secret("git-http", {"username": http_git_server.username, "password": password})
    workspace.push_tags("app", "1.0.0", "1.3.0")
    workspace.write_config(Automation(git_url=http_git_server.url_for(remote), git_secret="git-http"))
    requests_before = len(http_git_server.requests)
    before = remote.head()

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    head = remote.head()
    assert remote.parents(head) == [before]
    assert f"{workspace.image('app')}:1.3.0" in remote.read("apps/app.yaml")
    served = http_git_server.requests[requests_before:]
    assert any(r.method == "POST" and r.path.endswith("/git-receive-pack") and r.user for r in served)
    assert all(r.user for r in served), "credentials go with the first request: no 401 round trip"
    assert password not in result.stdout + result.stderr
    for config in cache_configs(workspace):
        text = config.read_text()
        assert password not in text and http_git_server.username + "@" not in text
    assert password not in git("cat-file", "-p", head, cwd=remote.path)
    assert password not in remote.message(head)


def test_smart_http_with_a_bearer_token_as_flux_sends_it(
    workspace: Workspace, http_git_server: HttpGitServer
) -> None:
    remote = http_git_server.new_repo(f"{workspace.prefix.replace('/', '-')}.git", manifests(workspace))
    token = http_git_server.bearer_token
    workspace.secret("git-bearer", {"bearerToken": token})
    workspace.push_tags("app", "1.0.0", "1.3.0")
    workspace.write_config(Automation(git_url=http_git_server.url_for(remote), git_secret="git-bearer"))
    before = len(http_git_server.requests)

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert f"{workspace.image('app')}:1.3.0" in remote.read("apps/app.yaml")
    served = http_git_server.requests[before:]
    assert served and all(r.user for r in served)  # every request carried the token: no 401 round trip
    assert token not in result.stdout + result.stderr
    for config in cache_configs(workspace):
        assert token not in config.read_text()


def test_wrong_http_password_fails_with_a_hint_and_no_secret(
    workspace: Workspace, http_git_server: HttpGitServer
) -> None:
    remote = http_git_server.new_repo(f"{workspace.prefix.replace('/', '-')}.git", manifests(workspace))
    wrong = "wrong-Pa55word-xyz"
    workspace.secret("git-http", {"username": http_git_server.username, "password": wrong})
    workspace.push_tags("app", "1.0.0", "1.3.0")
    workspace.write_config(Automation(git_url=http_git_server.url_for(remote), git_secret="git-http"))

    result = workspace.run()

    assert result.returncode == 1, explain(result)
    assert "failed" in result.stdout and http_git_server.url_for(remote) in result.stdout
    assert "username and password" in result.stdout  # what to check
    assert wrong not in result.stdout + result.stderr


def test_ssh_remote_with_identity_and_known_hosts(workspace: Workspace, ssh_git_server: SshGitServer) -> None:
    remote = ssh_git_server.new_repo(f"{workspace.prefix.replace('/', '-')}.git", manifests(workspace))
    workspace.secret("git-ssh", {"identity": ssh_git_server.identity, "known_hosts": ssh_git_server.known_hosts})
    workspace.push_tags("app", "1.0.0", "1.0.1")
    workspace.write_config(Automation(git_url=ssh_git_server.url_for(remote), git_secret="git-ssh"))
    before = remote.head()

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    head = remote.head()
    assert remote.parents(head) == [before]
    assert remote.read("apps/app.yaml") == manifests(workspace)["apps/app.yaml"].replace(":1.0.0", ":1.0.1")
    key_lines = [ln for ln in ssh_git_server.identity.decode().splitlines() if ln and "PRIVATE KEY" not in ln]
    assert not any(ln in result.stdout + result.stderr for ln in key_lines)
    for config in cache_configs(workspace):
        text = config.read_text()
        assert "sshcommand" not in text.lower() and not any(ln in text for ln in key_lines)


def move_branch_during_next_push(remote: BareRemote, other_sha: str, flag: Path) -> None:
    """A pre-receive hook that, once, moves `main` to `other_sha` while our push is being received.

    That is exactly a concurrent writer winning the race between our fetch and our push: the ref is no
    longer at the value our push expects, so the server refuses our update.
    """
    flag.write_text("armed\n")
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"if [ -f '{flag}' ]; then\n"
        f"  rm -f '{flag}'\n"
        # ref updates are refused inside the push's object quarantine; the other commit is already stored
        "  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \\\n"
        f"    git update-ref refs/heads/{remote.branch} {other_sha}\n"
        "fi\n"
    )
    hook.chmod(0o755)


def test_concurrent_writer_survives_and_our_commit_lands_on_top(workspace: Workspace, tmp_path: Path) -> None:
    files = manifests(workspace)
    remote = make_bare_repo(tmp_path / "remote.git", files)
    workspace.push_tags("app", "1.0.0", "1.4.0")
    workspace.write_config(Automation(git_url=remote.url))
    base = remote.head()
    # their commit, prepared on a side branch: it changes the same file (replicas) and adds another
    git("branch", "other-writer", remote.branch, cwd=remote.path)
    theirs_text = files["apps/app.yaml"].replace("replicas: 2", "replicas: 5")
    theirs = commit_on_remote(remote.url, {"apps/app.yaml": theirs_text, "NOTES.md": "scaled up\n"},
                              "scale app to 5", branch="other-writer")
    flag = tmp_path / "race-armed"
    move_branch_during_next_push(remote, theirs, flag)

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert not flag.exists(), "the concurrent writer never got in: the race did not happen"
    head = remote.head()
    assert remote.parents(head) == [theirs]  # ours on top of theirs, theirs on top of the base
    assert remote.parents(theirs) == [base]
    app = workspace.image("app")
    # the update was recomputed on their head: their replicas and our tag, nothing lost
    assert remote.read("apps/app.yaml") == theirs_text.replace(f"{app}:1.0.0", f"{app}:1.4.0")
    assert remote.read("NOTES.md") == "scaled up\n"
    assert remote.log()[1] == "scale app to 5"
    assert "pushed on attempt 2: the remote had moved" in result.stdout


def test_one_failing_automation_does_not_stop_the_other(workspace: Workspace, tmp_path: Path,
                                                        http_git_server: HttpGitServer) -> None:
    good = make_bare_repo(tmp_path / "good.git", manifests(workspace))
    missing = http_git_server.url_for(BareRemote(http_git_server.root / "no-such-repo.git"))
    password = http_git_server.password
    # credentials written into the URL itself, as some users do: they must not show in the error
    with_credentials = missing.replace("http://", f"http://{http_git_server.username}:{password}@")
    workspace.push_tags("app", "1.0.0", "1.5.0")
    workspace.write_config(
        Automation(name="broken", git_url=with_credentials),
        Automation(name="good", git_url=str(good.path)),
    )
    before = good.head()

    result = workspace.run()

    assert result.returncode == 1, explain(result)
    assert good.parents(good.head()) == [before]
    assert f"{workspace.image('app')}:1.5.0" in good.read("apps/app.yaml")
    failure = next(line for line in result.stdout.splitlines() if "flux-system/broken" in line)
    assert "failed" in failure and missing in failure
    assert password not in result.stdout + result.stderr
    assert "committed" in next(line for line in result.stdout.splitlines() if "flux-system/good:" in line)
    assert [h["automation"] for h in workspace.history()] == ["flux-system/good"]
    assert result.stdout.splitlines()[-1] == "FAILED: 1 committed, 1 failed"


