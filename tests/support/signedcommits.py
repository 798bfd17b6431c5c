"""Real signed commits for tests of GitRepository `spec.verify`: OpenPGP keys made by gpg, SSH keys by
ssh-keygen, commits signed by git itself and pushed to a real remote.

    signer = trusted_signers.pgp["trusted"]        # a PGP key: .fingerprint, .public (armoured)
    sha = signed_commit(remote.url, {"a.yaml": "x"}, signer.commit_env)   # or unsigned: env None
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.gitremotes import git


@dataclass(frozen=True)
class Signer:
    name: str
    public: bytes  # armoured OpenPGP public key, or an SSH public key line
    commit_env: Mapping[str, str] = field(repr=False)  # git's environment to sign commits with this key
    fingerprint: str = ""


@dataclass(frozen=True)
class Signers:
    pgp: Mapping[str, Signer]
    ssh: Mapping[str, Signer]


def _config(pairs: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(pairs)), **extra}
    for i, (key, value) in enumerate(pairs.items()):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


@pytest.fixture(scope="session")
def signers() -> Iterator[Signers]:
    """Two OpenPGP keys (`trusted`, `stranger`) and two SSH keys, each ready to sign commits."""
    home = Path(tempfile.mkdtemp(prefix="ib-sig-"))  # short: gpg-agent's socket path is length-limited
    home.chmod(0o700)
    gnupg = home / "g"
    gnupg.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(gnupg), "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        pgp = {}
        for name in ("trusted", "stranger"):
            email = f"{name}@example.com"
            subprocess.run([*gpg, "--quick-gen-key", f"{name.title()} Signer <{email}>", "ed25519", "sign", "never"],
                           check=True, capture_output=True, timeout=60)
            colons = subprocess.run([*gpg, "--with-colons", "--list-secret-keys", email], check=True,
                                    capture_output=True, text=True).stdout
            fpr = next(ln.split(":")[9] for ln in colons.splitlines() if ln.startswith("fpr:"))
            public = subprocess.run([*gpg, "--armor", "--export", fpr], check=True, capture_output=True).stdout
            env = _config({"commit.gpgSign": "true", "user.signingKey": fpr}, {"GNUPGHOME": str(gnupg)})
            pgp[name] = Signer(name, public, env, fpr)
        ssh = {}
        for name in ("trusted-ssh", "stranger-ssh"):
            key = home / name
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                           check=True, capture_output=True)
            env = _config({"commit.gpgSign": "true", "gpg.format": "ssh", "user.signingKey": str(key)}, {})
            ssh[name] = Signer(name, key.with_suffix(".pub").read_bytes(), env)
        yield Signers(pgp, ssh)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def signed_commit(url: str, files: Mapping[str, str], signer: Signer | None, message: str = "change",
                  branch: str = "main") -> str:
    """Commit `files` on `branch` of the remote, signed by `signer` (unsigned with None); the new sha."""
    env = signer.commit_env if signer else None
    scratch = Path(tempfile.mkdtemp(prefix="signed-writer-"))
    try:
        work = scratch / "w"
        git("clone", "--quiet", "--branch", branch, url, str(work))
        for name, text in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", message, cwd=work, env=env)
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
