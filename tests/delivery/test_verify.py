"""GitRepository `spec.verify` on a checkout: real commits signed by gpg and by ssh-keygen (through
git), on a real remote; imagebot builds only on a head signed by one of the secret's keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from imagebot.delivery.git import Checkout, GitError, GitSource, Verification
from imagebot.failures import FailureKind
from tests.support.gitremotes import BareRemote, git
from tests.support.signedcommits import Signers, signed_commit, signers  # noqa: F401


def _prepare(tmp_path: Path, remote: BareRemote, keys: dict[str, bytes]) -> Checkout:
    return Checkout.prepare(tmp_path / "cache", GitSource(remote.url, "main",
                                                          verification=Verification.from_keys("trusted-keys", keys)))


def test_a_head_signed_by_a_key_of_the_secret_is_checked_out(
    tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    sha = signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp["trusted"])

    checkout = _prepare(tmp_path, bare_remote, {"git.asc": signers.pgp["trusted"].public})

    assert checkout.head == sha
    assert (checkout.workdir / "a.yaml").read_text() == "a: 1\n"


@pytest.mark.parametrize("signer", [None, "stranger"])
def test_an_unsigned_head_or_one_signed_by_an_unknown_key_is_refused(
    signer: str | None, tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    sha = signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp[signer] if signer else None)

    with pytest.raises(GitError) as caught:
        _prepare(tmp_path, bare_remote, {"git.asc": signers.pgp["trusted"].public})

    error = caught.value
    assert error.kind is FailureKind.GIT
    text = str(error)
    assert text.startswith(f"commit {sha[:12]} at the head of {bare_remote.url} ")
    assert "imagebot does not build on it" in text and "secret 'trusted-keys'" in text
    if signer is None:
        assert "is not signed" in text
    else:
        stranger = signers.pgp["stranger"].fingerprint
        assert f"(signed by key {stranger[-16:]}, which the secret does not hold)" in text


def test_a_new_unsigned_head_is_refused_and_the_tree_stays_at_the_verified_commit(
    tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    good = signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp["trusted"])
    keys = {"git.asc": signers.pgp["trusted"].public}
    checkout = _prepare(tmp_path, bare_remote, keys)
    bad = signed_commit(bare_remote.url, {"a.yaml": "a: evil\n"}, None)

    with pytest.raises(GitError, match=f"commit {bad[:12]} .* is not signed"):
        _prepare(tmp_path, bare_remote, keys)  # the cached clone fetches the new head

    assert checkout.head == good
    assert (checkout.workdir / "a.yaml").read_text() == "a: 1\n"
    with pytest.raises(GitError, match="is not signed"):
        checkout.refresh()  # the push loop's refresh checks too
    assert (checkout.workdir / "a.yaml").read_text() == "a: 1\n"


def test_every_key_of_the_secret_counts_as_flux_reads_it(
    tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    # Flux's source-controller: keys ending in .sshpub are SSH keys, every other key holds OpenPGP keys
    sha = signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp["stranger"])
    keys = {"git.asc": signers.pgp["trusted"].public, "release-team.asc": signers.pgp["stranger"].public}

    assert _prepare(tmp_path, bare_remote, keys).head == sha


def test_ssh_signatures_are_checked_against_the_sshpub_keys(
    tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    sha = signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.ssh["trusted-ssh"])
    trusted = {"git.asc": signers.pgp["trusted"].public, "bot.sshpub": signers.ssh["trusted-ssh"].public}

    assert _prepare(tmp_path / "ok", bare_remote, trusted).head == sha

    with pytest.raises(GitError, match=r"not signed by a key in secret 'trusted-keys'.*SSH signature"):
        _prepare(tmp_path / "other", bare_remote,
                 {"git.asc": signers.pgp["trusted"].public, "bot.sshpub": signers.ssh["stranger-ssh"].public})


@pytest.mark.parametrize(("keys", "problem"), [
    ({}, "holds no keys"),
    ({"git.asc": b"not a key\n"}, "key 'git.asc' is not an ASCII-armoured OpenPGP public key"),
    ({"git.asc": b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"},
     "key 'git.asc' holds no OpenPGP public key that gpg can import"),
    ({"keys.sshpub": b"not an ssh key\n"}, "key 'keys.sshpub' is not a list of SSH public keys"),
])
def test_unusable_keys_are_an_error_naming_the_key(
    keys: dict[str, bytes], problem: str, tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp["trusted"])

    with pytest.raises(GitError) as caught:
        _prepare(tmp_path, bare_remote, keys)

    assert problem in str(caught.value)


def test_the_operators_keyring_takes_no_part(
    tmp_path: Path, bare_remote: BareRemote, signers: Signers, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    # the stranger's key in the process's own GNUPGHOME must not make its signature acceptable
    home = tmp_path / "operator-gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import"], input=signers.pgp["stranger"].public,
                   check=True, capture_output=True)
    monkeypatch.setenv("GNUPGHOME", str(home))
    signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp["stranger"])

    with pytest.raises(GitError, match="which the secret does not hold"):
        _prepare(tmp_path, bare_remote, {"git.asc": signers.pgp["trusted"].public})
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)


def test_a_signed_commit_changed_after_signing_is_refused(
    tmp_path: Path, bare_remote: BareRemote, signers: Signers,  # noqa: F811
) -> None:
    # The signature of a trusted key, over other contents: the commit object is forged on the remote.
    signed = signed_commit(bare_remote.url, {"a.yaml": "a: 1\n"}, signers.pgp["trusted"], message="harmless")
    raw = git("cat-file", "commit", signed, cwd=bare_remote.path).replace("harmless", "harmful!")
    forged = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=bare_remote.path, stdin=raw).strip()
    git("update-ref", "refs/heads/main", forged, cwd=bare_remote.path)

    with pytest.raises(GitError, match=f"commit {forged[:12]} .* has a BAD signature"):
        _prepare(tmp_path, bare_remote, {"git.asc": signers.pgp["trusted"].public})
