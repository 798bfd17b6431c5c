"""Credentials over real transports: smart HTTP with Basic auth, and SSH with a key and known_hosts."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from imagebot.delivery.git import Author, Checkout, GitAuth, GitError, GitSource, deliver
from tests.support.gitremotes import HttpGitServer, SshGitServer

AUTHOR = Author("imagebot", "imagebot@example.com")


def bump(workdir: Path) -> str | None:
    path = workdir / "apps/app/deployment.yaml"
    text = path.read_text()
    edited = text.replace("app:1.2.3", "app:1.3.0")
    if edited == text:
        return None
    path.write_text(edited)
    return "app 1.2.3 -> 1.3.0"


def all_text_under(folder: Path) -> str:
    """Everything git left on disk for this clone (config, logs, FETCH_HEAD, packed refs...)."""
    chunks = []
    for path in folder.rglob("*"):
        if path.is_file() and "objects" not in path.parts:
            chunks.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(chunks)


def test_http_basic_auth_clone_commit_push(tmp_path: Path, http_git_server: HttpGitServer) -> None:
    remote = http_git_server.new_repo("http-ok.git")
    url = http_git_server.url_for(remote)
    auth = GitAuth(username=http_git_server.username, password=http_git_server.password)
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(url, "main", auth))
    assert (checkout.workdir / ".git/shallow").is_file()  # smart HTTP serves shallow clones

    outcome = deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR)

    assert outcome is not None and outcome.pushed
    assert remote.head() == outcome.commit and "app:1.3.0" in remote.read("apps/app/deployment.yaml")
    posts = [r for r in http_git_server.requests if r.path.startswith("/http-ok.git/git-receive-pack")]
    assert posts and all(r.user == "bot" for r in posts)
    on_disk = all_text_under(checkout.workdir / ".git")
    assert http_git_server.password not in on_disk


def test_http_wrong_password_is_a_clear_error_without_the_password(
    tmp_path: Path, http_git_server: HttpGitServer
) -> None:
    remote = http_git_server.new_repo("http-wrong.git")
    wrong = "not-the-Pa55word-42"
    source = GitSource(http_git_server.url_for(remote), "main", GitAuth(username="bot", password=wrong))

    with pytest.raises(GitError) as err:
        Checkout.prepare(tmp_path / "cache", source)

    text = str(err.value)
    assert "Authentication failed" in text and "check the username and password" in text
    assert wrong not in text and wrong not in repr(err.value)
    assert http_git_server.url_for(remote) in text


def test_http_without_credentials_fails_instead_of_prompting(tmp_path: Path,
                                                             http_git_server: HttpGitServer) -> None:
    remote = http_git_server.new_repo("http-anon.git")
    with pytest.raises(GitError, match=r"wants credentials|Authentication failed"):
        Checkout.prepare(tmp_path / "cache", GitSource(http_git_server.url_for(remote), "main"))


def test_credentials_in_the_url_are_used_but_never_stored(tmp_path: Path,
                                                         http_git_server: HttpGitServer) -> None:
    remote = http_git_server.new_repo("http-inline.git")
    clean = http_git_server.url_for(remote)
    inline = clean.replace("http://", f"http://bot:{http_git_server.password}@")
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(inline, "main"))

    outcome = deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR)

    assert outcome is not None and remote.head() == outcome.commit
    config = (checkout.workdir / ".git/config").read_text()
    assert f"url = {clean}" in config
    assert http_git_server.password not in all_text_under(checkout.workdir / ".git")


def test_error_text_scrubs_url_credentials(tmp_path: Path, http_git_server: HttpGitServer) -> None:
    remote = http_git_server.new_repo("http-scrub.git")
    secret = "inline-Secret-99"
    inline = http_git_server.url_for(remote).replace("http://", f"http://bot:{secret}@") + "-missing"
    with pytest.raises(GitError) as err:
        Checkout.prepare(tmp_path / "cache", GitSource(inline, "main"))
    assert secret not in str(err.value) and "bot:" not in str(err.value)


def test_token_as_password_without_username(tmp_path: Path, http_git_server: HttpGitServer) -> None:
    # Flux secrets often hold just a token as `password`; a placeholder username goes with it.
    server = HttpGitServer(tmp_path / "root", username="git", password="ghp_tokenvalue123")
    server.root.mkdir()
    server.start()
    try:
        remote = server.new_repo("tok.git")
        checkout = Checkout.prepare(
            tmp_path / "cache", GitSource(server.url_for(remote), "main", GitAuth(password="ghp_tokenvalue123"))
        )
        assert checkout.head == remote.head()
    finally:
        server.stop()


def test_ssh_identity_and_known_hosts(tmp_path: Path, ssh_git_server: SshGitServer) -> None:
    remote = ssh_git_server.new_repo("ssh-ok.git")
    auth = GitAuth(identity=ssh_git_server.identity, known_hosts=ssh_git_server.known_hosts)
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(ssh_git_server.url_for(remote), "main", auth))

    outcome = deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR)

    assert outcome is not None and remote.head() == outcome.commit
    on_disk = all_text_under(checkout.workdir / ".git")
    assert "PRIVATE KEY" not in on_disk and "imagebot-git-" not in on_disk
    assert not list(Path("/tmp").glob("imagebot-git-*/identity"))  # temp key files are gone


def test_ssh_unknown_host_key_is_refused(tmp_path: Path, ssh_git_server: SshGitServer) -> None:
    remote = ssh_git_server.new_repo("ssh-hostkey.git")
    other = re.sub(rb"AAAA\S+", b"AAAAC3NzaC1lZDI1NTE5AAAAIMc0KqbvZ3B7bqQn8sTz3yHn7V9rA3mFq9ZJ4p2Xr1Ab",
                   ssh_git_server.known_hosts)
    auth = GitAuth(identity=ssh_git_server.identity, known_hosts=other)
    with pytest.raises(GitError, match=r"known_hosts|Host key"):
        Checkout.prepare(tmp_path / "cache", GitSource(ssh_git_server.url_for(remote), "main", auth))


def test_ssh_wrong_key_is_refused(tmp_path: Path, ssh_git_server: SshGitServer, ssh_signing_key) -> None:
    remote = ssh_git_server.new_repo("ssh-wrongkey.git")
    auth = GitAuth(identity=ssh_signing_key.private, known_hosts=ssh_git_server.known_hosts)
    with pytest.raises(GitError, match="check the identity"):
        Checkout.prepare(tmp_path / "cache", GitSource(ssh_git_server.url_for(remote), "main", auth))


def command_lines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        try:
            lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return lines


def test_password_never_in_any_process_arguments(tmp_path: Path, http_git_server: HttpGitServer) -> None:
    remote = http_git_server.new_repo("http-ps.git")
    seen: list[str] = []
    http_git_server.on_request = lambda: seen.extend(command_lines())
    try:
        auth = GitAuth(username=http_git_server.username, password=http_git_server.password)
        checkout = Checkout.prepare(tmp_path / "cache", GitSource(http_git_server.url_for(remote), "main", auth))
        deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR)
    finally:
        http_git_server.on_request = None
    git_lines = [line for line in seen if "git" in line and "http-ps.git" in line]
    assert git_lines  # the snapshots did catch our git processes at work
    assert not [line for line in seen if http_git_server.password in line]


def test_ssh_encrypted_identity_with_password(tmp_path: Path, ssh_git_server: SshGitServer) -> None:
    key = tmp_path / "enc_key"
    passphrase = "key-Passphrase-7"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True)
    ssh_git_server.authorize(key.with_suffix(".pub").read_text())
    remote = ssh_git_server.new_repo("ssh-enc.git")
    auth = GitAuth(password=passphrase, identity=key.read_bytes(), known_hosts=ssh_git_server.known_hosts)

    checkout = Checkout.prepare(tmp_path / "cache", GitSource(ssh_git_server.url_for(remote), "main", auth))
    assert checkout.head == remote.head()

    wrong = GitAuth(password="wrong-Passphrase", identity=key.read_bytes(), known_hosts=ssh_git_server.known_hosts)
    with pytest.raises(GitError) as err:
        Checkout.prepare(tmp_path / "cache2", GitSource(ssh_git_server.url_for(remote), "main", wrong))
    assert "wrong-Passphrase" not in str(err.value)


def test_http_large_push_uses_a_chunked_body(tmp_path: Path, http_git_server: HttpGitServer) -> None:
    remote = http_git_server.new_repo("http-big.git")
    auth = GitAuth(username=http_git_server.username, password=http_git_server.password)
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(http_git_server.url_for(remote), "main", auth))
    blob = os.urandom(3 * 1024 * 1024)  # beyond git's 1 MiB http.postBuffer: sent chunked

    def add_blob(workdir: Path) -> str:
        (workdir / "big.bin").write_bytes(blob)
        return "big"

    outcome = deliver(checkout, apply=add_blob, message=lambda c: c, author=AUTHOR)

    assert outcome is not None and remote.head() == outcome.commit
    assert any(r.chunked and r.path.endswith("git-receive-pack") for r in http_git_server.requests)
    size = subprocess.run(["git", "cat-file", "-s", "main:big.bin"], cwd=remote.path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert size == str(len(blob))
