"""Commit signing with a key from a secret: GPG (a throwaway GNUPGHOME) or SSH (`gpg.format ssh`)."""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from imagebot.delivery._gitcmd import GitError, scrub, write_private


@dataclass(frozen=True)
class Signing:
    """`git.commit.signingKey`: kind "gpg" with `key_armored` (secret key `git.asc`) and an optional
    `passphrase`, or kind "ssh" with `identity` (an OpenSSH private key, unencrypted)."""

    kind: Literal["gpg", "ssh"]
    key_armored: bytes | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    identity: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind == "gpg" and not self.key_armored:
            raise ValueError("gpg signing needs the armored secret key (secret key git.asc)")
        if self.kind == "ssh" and not self.identity:
            raise ValueError("ssh signing needs a private key (secret key identity)")
        if self.kind not in ("gpg", "ssh"):
            raise ValueError(f"unknown signing key type {self.kind!r} (use gpg or ssh)")


@dataclass(frozen=True)
class SigningConfig:
    config: dict[str, str]
    secrets: tuple[str, ...]


@contextmanager
def signing_config(signing: Signing | None) -> Iterator[SigningConfig]:
    """Git configuration that makes `git commit` sign (or, with None, never sign whatever the user's config)."""
    if signing is None:
        yield SigningConfig({"commit.gpgsign": "false"}, ())
        return
    # A short path: gpg-agent's socket lives in GNUPGHOME and socket paths are limited to ~100 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="ib-sign-", dir="/tmp" if Path("/tmp").is_dir() else None))
    try:
        if signing.kind == "ssh":
            assert signing.identity is not None
            identity = signing.identity if signing.identity.endswith(b"\n") else signing.identity + b"\n"
            key = write_private(tmp / "signing_key", identity)
            yield SigningConfig(
                {"commit.gpgsign": "true", "gpg.format": "ssh", "user.signingkey": str(key)}, ()
            )
        else:
            yield _gpg_config(tmp, signing)
    finally:
        if signing.kind == "gpg":
            subprocess.run(
                ["gpgconf", "--homedir", str(tmp / "gnupg"), "--kill", "gpg-agent"],
                capture_output=True, check=False, timeout=10,
            )
        shutil.rmtree(tmp, ignore_errors=True)


def _gpg_config(tmp: Path, signing: Signing) -> SigningConfig:
    assert signing.key_armored is not None
    secrets = (signing.passphrase,) if signing.passphrase else ()
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--no-tty"]
    imported = subprocess.run(
        [*gpg, "--import"], input=signing.key_armored, capture_output=True, check=False, timeout=60
    )
    listed = subprocess.run(
        [*gpg, "--with-colons", "--list-secret-keys"], capture_output=True, text=True, check=False, timeout=60
    )
    fingerprint = _first_secret_fingerprint(listed.stdout)
    if fingerprint is None:
        lines = imported.stderr.decode(errors="replace").strip().splitlines()
        detail = scrub(lines[-1] if lines else "no key in the armored text", secrets)
        raise GitError(f"the gpg signing key (git.asc) holds no usable secret key: {detail}")
    argv = [*gpg, "--pinentry-mode", "loopback"]
    if signing.passphrase is not None:
        passfile = write_private(tmp / "passphrase", signing.passphrase.encode())
        argv += ["--passphrase-file", str(passfile)]
    # git runs gpg.program with its own arguments; the wrapper adds ours (paths only, no secrets).
    wrapper = write_private(
        tmp / "gpg", f'#!/bin/sh\nexec {shlex.join(argv)} "$@"\n'.encode(), stat.S_IRWXU
    )
    return SigningConfig(
        {
            "commit.gpgsign": "true",
            "gpg.format": "openpgp",
            "gpg.program": str(wrapper),
            "user.signingkey": fingerprint,
        },
        secrets,
    )


def _first_secret_fingerprint(colons: str) -> str | None:
    in_secret = False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            in_secret = True
        elif fields[0] == "fpr" and in_secret:
            return fields[9]
    return None
