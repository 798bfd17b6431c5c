"""Signed commits from `git.commit.signingKey`, checked with `git verify-commit` and only the public keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import BareRemote, GpgTestKey, SshTestKey, make_bare_repo


def verify(remote: BareRemote, sha: str, *config: str, gnupghome: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GNUPGHOME": str(gnupghome)} if gnupghome else None
    args = [arg for pair in config for arg in ("-c", pair)]
    return subprocess.run(["git", *args, "verify-commit", "--raw", sha], cwd=remote.path, env=env,
                          capture_output=True, text=True, check=False)


def test_gpg_and_ssh_signed_commits_verify(workspace: Workspace, tmp_path: Path, gpg_test_key: GpgTestKey,
                                           ssh_signing_key: SshTestKey) -> None:
    files = {"app.yaml": deployment("app", f"{workspace.image('app')}:1.0.0")}
    gpg_remote = make_bare_repo(tmp_path / "gpg.git", files)
    ssh_remote = make_bare_repo(tmp_path / "ssh.git", files)
    workspace.secret("gpg-key", {"git.asc": gpg_test_key.armored_secret, "passphrase": gpg_test_key.passphrase})
    workspace.secret("ssh-key", {"identity": ssh_signing_key.private})
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.write_config(
        Automation(name="gpg", git_url=str(gpg_remote.path),
                   commit_extra={"signingKey": {"secretRef": {"name": "gpg-key"}}}),
        Automation(name="ssh", git_url=str(ssh_remote.path),
                   commit_extra={"signingKey": {"type": "ssh", "secretRef": {"name": "ssh-key"}}}),
    )

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert gpg_test_key.passphrase not in result.stdout + result.stderr
    verifier = tmp_path / "verifier-gnupg"
    verifier.mkdir(mode=0o700)
    subprocess.run(["gpg", "--homedir", str(verifier), "--batch", "--import"], input=gpg_test_key.armored_public,
                   check=True, capture_output=True)
    try:
        gpg_head = gpg_remote.head()
        checked = verify(gpg_remote, gpg_head, gnupghome=verifier)
        assert checked.returncode == 0, checked.stderr
        assert f"VALIDSIG {gpg_test_key.fingerprint}" in checked.stderr
        assert verify(gpg_remote, gpg_remote.parents(gpg_head)[0], gnupghome=verifier).returncode != 0
    finally:
        subprocess.run(["gpgconf", "--homedir", str(verifier), "--kill", "gpg-agent"], capture_output=True,
                       check=False)

    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'imagebot@example.com namespaces="git" {ssh_signing_key.public}\n')
    ssh_head = ssh_remote.head()
    checked = verify(ssh_remote, ssh_head, f"gpg.ssh.allowedSignersFile={allowed}")
    assert checked.returncode == 0, checked.stderr
    assert 'Good "git" signature for imagebot@example.com' in checked.stderr
    assert verify(ssh_remote, ssh_remote.parents(ssh_head)[0],
                  f"gpg.ssh.allowedSignersFile={allowed}").returncode != 0
