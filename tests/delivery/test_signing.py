"""Signed commits, checked by `git verify-commit` with only the public half of the key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from imagebot.delivery.git import Author, Checkout, GitError, GitSource, Signing, deliver
from tests.support.gitremotes import BareRemote, GpgTestKey, SshTestKey

AUTHOR = Author("imagebot", "bot@example.com")


def bump(workdir: Path) -> str:
    path = workdir / "apps/app/deployment.yaml"
    path.write_text(path.read_text().replace("app:1.2.3", "app:1.3.0"))
    return "app 1.3.0"


def verify(repo: BareRemote, sha: str, *config: str, gnupghome: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GNUPGHOME": str(gnupghome)} if gnupghome else None
    args = [arg for pair in config for arg in ("-c", pair)]
    return subprocess.run(["git", *args, "verify-commit", "--raw", sha], cwd=repo.path, env=env,
                          capture_output=True, text=True, check=False)


def test_gpg_signed_commit_verifies(tmp_path: Path, bare_remote: BareRemote, gpg_test_key: GpgTestKey) -> None:
    signing = Signing("gpg", key_armored=gpg_test_key.armored_secret, passphrase=gpg_test_key.passphrase)
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "main"))

    outcome = deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR, signing=signing)

    assert outcome is not None
    verifier = tmp_path / "verifier-gnupg"
    verifier.mkdir(mode=0o700)
    subprocess.run(["gpg", "--homedir", str(verifier), "--batch", "--import"],
                   input=gpg_test_key.armored_public, check=True, capture_output=True)
    try:
        result = verify(bare_remote, outcome.commit, gnupghome=verifier)
        assert result.returncode == 0, result.stderr
        assert f"VALIDSIG {gpg_test_key.fingerprint}" in result.stderr
        unsigned = verify(bare_remote, bare_remote.parents(outcome.commit)[0], gnupghome=verifier)
        assert unsigned.returncode != 0  # the check can fail: the seed commit is unsigned
    finally:
        subprocess.run(["gpgconf", "--homedir", str(verifier), "--kill", "gpg-agent"], capture_output=True,
                       check=False)


def test_gpg_wrong_passphrase_fails_without_showing_it(tmp_path: Path, bare_remote: BareRemote,
                                                       gpg_test_key: GpgTestKey) -> None:
    wrong = "not the passphrase at all"
    signing = Signing("gpg", key_armored=gpg_test_key.armored_secret, passphrase=wrong)
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "main"))

    with pytest.raises(GitError, match="signing the commit") as err:
        deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR, signing=signing)

    assert wrong not in str(err.value)
    assert len(bare_remote.log()) == 1  # nothing unsigned was pushed instead


def test_gpg_key_that_is_not_a_key(tmp_path: Path, bare_remote: BareRemote) -> None:
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "main"))
    with pytest.raises(GitError, match=r"git\.asc"):
        deliver(checkout, apply=bump, message=lambda c: "x", author=AUTHOR,
                signing=Signing("gpg", key_armored=b"-----BEGIN PGP PRIVATE KEY BLOCK-----\nnope\n"))


def test_ssh_signed_commit_verifies(tmp_path: Path, bare_remote: BareRemote,
                                    ssh_signing_key: SshTestKey) -> None:
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "main"))

    outcome = deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR,
                      signing=Signing("ssh", identity=ssh_signing_key.private))

    assert outcome is not None
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'{AUTHOR.email} namespaces="git" {ssh_signing_key.public}\n')
    result = verify(bare_remote, outcome.commit, f"gpg.ssh.allowedSignersFile={allowed}")
    assert result.returncode == 0, result.stderr
    assert f'Good "git" signature for {AUTHOR.email}' in result.stderr
    seed = bare_remote.parents(outcome.commit)[0]
    assert verify(bare_remote, seed, f"gpg.ssh.allowedSignersFile={allowed}").returncode != 0


def test_unsigned_even_if_the_users_config_says_sign(tmp_path: Path, bare_remote: BareRemote,
                                                    isolated_git_home: Path) -> None:
    (isolated_git_home / ".gitconfig").write_text("[commit]\n\tgpgsign = true\n")
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "main"))
    outcome = deliver(checkout, apply=bump, message=lambda c: "x", author=AUTHOR)
    assert outcome is not None and verify(bare_remote, outcome.commit).returncode != 0


def test_signing_requires_its_key() -> None:
    with pytest.raises(ValueError, match=r"git\.asc"):
        Signing("gpg")
    with pytest.raises(ValueError, match="identity"):
        Signing("ssh")
