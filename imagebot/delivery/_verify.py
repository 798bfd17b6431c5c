"""Flux's GitRepository `spec.verify` (mode HEAD): the checked-out head commit must carry a valid
signature by one of the secret's keys, or imagebot does not build on it.

Keys as Flux's source-controller reads them: every key of the secret whose name ends in `.sshpub`
holds SSH public keys (authorized_keys lines), every other key (`git.asc` by convention) OpenPGP
public keys, ASCII-armoured. The signature is checked by git itself (`git verify-commit`) against a
temporary GnuPG home holding only the secret's OpenPGP keys, and an allowed-signers file holding
only its SSH keys: neither the operator's keyring nor ~/.ssh takes part. A key being in the secret is
what trusts it (as in Flux), so gpg's web-of-trust level does not matter.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imagebot.delivery._gitcmd import LOCAL_TIMEOUT, GitError, GitRunner, write_private

SSH_SUFFIX = ".sshpub"


@dataclass(frozen=True)
class Verification:
    """The public keys of one `spec.verify.secretRef`: (key name, contents) pairs."""

    secret: str
    pgp_keys: tuple[tuple[str, bytes], ...] = ()
    ssh_keys: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_keys(cls, secret: str, keys: dict[str, bytes]) -> Verification:
        if not keys:
            raise GitError(f"secret '{secret}' (spec.verify.secretRef) holds no keys: put the trusted OpenPGP "
                           "public keys in git.asc")
        return cls(secret,
                   tuple((k, v) for k, v in sorted(keys.items()) if not k.endswith(SSH_SUFFIX)),
                   tuple((k, v) for k, v in sorted(keys.items()) if k.endswith(SSH_SUFFIX)))


def verify_commit(workdir: Path, rev: str, verification: Verification, url: str) -> str:
    """Check `rev`'s signature; return who signed it (`key FINGERPRINT`), or raise GitError saying why not."""
    runner = GitRunner(workdir)
    sha = runner.run("rev-parse", "--verify", f"{rev}^{{commit}}").stdout.strip()
    where = f"commit {sha[:12]} at the head of {url}"
    with tempfile.TemporaryDirectory(prefix="ib-verify-") as tmp:  # short: gpg's socket paths are limited
        home = Path(tmp) / "gnupg"
        home.mkdir(mode=0o700)
        try:
            # the keys are checked first: an unusable secret is reported whatever the commit
            import_pgp_keys(home, verification)
            config = {"gpg.minTrustLevel": "undefined"}
            if verification.ssh_keys:
                config["gpg.ssh.allowedSignersFile"] = str(_allowed_signers(Path(tmp), verification))
            header = runner.run("cat-file", "commit", sha).stdout.partition("\n\n")[0]
            if "\ngpgsig " not in f"\n{header}" and "\ngpgsig-sha256 " not in f"\n{header}":
                raise GitError(f"{where} is not signed (spec.verify requires a signature by a key in secret "
                               f"'{verification.secret}'): imagebot does not build on it")
            checker = GitRunner(workdir, {"GNUPGHOME": str(home)}, config)
            result = checker.run("verify-commit", "--raw", sha, check=False, what="git verify-commit")
        finally:
            _stop_agent(home)
    status = result.stderr
    if result.status == 0:
        signer = _status_field(status, "VALIDSIG", 1)
        return f"key {signer}" if signer else "an SSH key"
    refused = f"{where} is not signed by a key in secret '{verification.secret}' (spec.verify): " \
              "imagebot does not build on it"
    if "[GNUPG:] BADSIG" in status:
        raise GitError(f"{where} has a BAD signature (key {_status_field(status, 'BADSIG', 1)}): the commit "
                       f"was changed after it was signed; imagebot does not build on it")
    missing = _status_field(status, "NO_PUBKEY", 1) or _status_field(status, "ERRSIG", 1)
    if missing:
        raise GitError(f"{refused} (signed by key {missing}, which the secret does not hold)")
    for word, meaning in (("EXPKEYSIG", "an expired key"), ("REVKEYSIG", "a revoked key"),
                          ("EXPSIG", "an expired signature")):
        if f"[GNUPG:] {word}" in status:
            raise GitError(f"{where} is signed with {meaning} ({_status_field(status, word, 1)}): imagebot "
                           "does not build on it")
    if "ssh" in status.lower() or "principal" in status.lower():
        raise GitError(f"{refused} (an SSH signature by a key none of the secret's .sshpub keys matches)")
    raise GitError(f"{refused} (git verify-commit: {_first_line(status)})")


def check_keys(verification: Verification) -> None:
    """`validate --secrets-dir`: every key file loads (OpenPGP keys import, .sshpub lines are SSH keys)."""
    with tempfile.TemporaryDirectory(prefix="ib-keys-") as tmp:
        home = Path(tmp) / "gnupg"
        home.mkdir(mode=0o700)
        try:
            import_pgp_keys(home, verification)
            if verification.ssh_keys:
                _allowed_signers(Path(tmp), verification)
        finally:
            _stop_agent(home)


def import_pgp_keys(home: Path, verification: Verification) -> int:
    """Import the secret's OpenPGP keys into `home`; a key file gpg cannot read is an error naming it."""
    imported = 0
    for key, data in verification.pgp_keys:
        if b"-----BEGIN PGP PUBLIC KEY BLOCK-----" not in data:
            raise GitError(f"secret '{verification.secret}' key '{key}' is not an ASCII-armoured OpenPGP public "
                           "key (-----BEGIN PGP PUBLIC KEY BLOCK-----); SSH public keys go in keys ending in "
                           f"{SSH_SUFFIX}")
        done = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--no-tty", "--status-fd", "1",
                               "--import-options", "import-minimal", "--import"],
                              input=data, capture_output=True, timeout=LOCAL_TIMEOUT, check=False)
        count = sum(1 for line in done.stdout.decode("utf-8", "replace").splitlines()
                    if line.startswith("[GNUPG:] IMPORT_OK"))
        if count == 0:
            raise GitError(f"secret '{verification.secret}' key '{key}' holds no OpenPGP public key that gpg "
                           "can import")
        imported += count
    return imported


def _allowed_signers(folder: Path, verification: Verification) -> Path:
    # Any identity may sign with a listed key: being in the secret is what trusts it, as in Flux.
    lines = []
    for key, data in verification.ssh_keys:
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                if not line.split()[0].startswith(("ssh-", "ecdsa-", "sk-")):
                    raise GitError(f"secret '{verification.secret}' key '{key}' is not a list of SSH public keys")
                lines.append(f'* namespaces="git" {line.strip()}\n')
    return write_private(folder / "allowed_signers", "".join(lines).encode())


def _status_field(status: str, word: str, index: int) -> str | None:
    for line in status.splitlines():
        parts = line.split()
        if len(parts) > index + 1 and parts[0] == "[GNUPG:]" and parts[1] == word:
            return parts[1 + index]
    return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[GNUPG:]")]
    return lines[0][:200] if lines else "failed"


def _stop_agent(home: Path) -> None:
    # A verification starts no agent, but a gpg that did would keep the removed home's socket alive.
    if shutil.which("gpgconf"):
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False,
                       timeout=LOCAL_TIMEOUT)
