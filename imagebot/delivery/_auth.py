"""Credentials for git remotes: handed to git through temporary files and the environment only.

HTTP(S): a Basic (or Bearer) Authorization header goes with every request, given as git configuration in
the environment; after a 401 git asks GIT_ASKPASS, a script that echoes the username/password from
variables set only in the environment of that one git process. SSH: GIT_SSH_COMMAND names a 0600 identity
file and a known_hosts file in a private temporary folder, removed when the operation ends. Nothing lands
in `.git/config` or argv.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from imagebot.delivery._gitcmd import GitError, write_private

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "$IMAGEBOT_GIT_USERNAME" ;;
  *) printf '%s\\n' "$IMAGEBOT_GIT_PASSWORD" ;;
esac
"""
# Used when there is no password to give: git then fails at once instead of waiting for a terminal.
_NO_ASKPASS = "#!/bin/sh\nexit 1\n"

# A token given as password without a username: GitHub, Gitea and Bitbucket accept any username with a token,
# GitLab any non-empty one.
DEFAULT_TOKEN_USERNAME = "git"

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?[^/:]+:(?!//)")


@dataclass(frozen=True)
class GitAuth:
    """Flux's GitRepository secret keys: username/password for HTTP(S), identity/known_hosts for SSH."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity: bytes | None = field(default=None, repr=False)
    known_hosts: bytes | None = None
    bearer_token: str | None = field(default=None, repr=False)  # sent as `Authorization: Bearer`, as Flux does

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.bearer_token) if s)


@dataclass(frozen=True)
class RemoteURL:
    """A remote URL with any credentials split off: `url` is safe to store and to show."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))


def parse_remote_url(url: str) -> RemoteURL:
    """Normalise a remote URL; `https://user:pass@host/x` becomes `https://host/x` plus the credentials."""
    if "://" not in url:
        if _SCP_LIKE.match(url) and not Path(url).exists():
            return RemoteURL(url)  # scp-like ssh: git@host:org/repo.git
        # A local path: as a file:// URL, so that clones can be shallow (git ignores --depth for paths).
        return RemoteURL(Path(url).expanduser().resolve().as_uri())
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ssh", "git", "file", "git+ssh", "ssh+git"):
        raise GitError(f"unsupported repository URL scheme {parts.scheme!r} (use https, http, ssh or file)")
    if "@" not in parts.netloc:
        return RemoteURL(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    if parts.scheme in ("http", "https"):
        clean = urlunsplit(SplitResult(parts.scheme, hostport, parts.path, parts.query, parts.fragment))
        return RemoteURL(clean, user or None, password if has_password else None)
    # ssh: the user name is part of the address, a password is never used (keys only).
    netloc = f"{user}@{hostport}" if user else hostport
    return RemoteURL(urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


@dataclass(frozen=True)
class AuthEnv:
    env: dict[str, str]
    secrets: tuple[str, ...]
    config: dict[str, str] = field(default_factory=dict)  # git configuration, passed through the environment


@contextmanager
def auth_session(remote: RemoteURL, auth: GitAuth | None) -> Iterator[AuthEnv]:
    """Environment for one git network operation; the temporary credential files vanish afterwards."""
    auth = auth or GitAuth()
    username = auth.username or remote.username
    password = auth.password if auth.password is not None else remote.password
    tmp = Path(tempfile.mkdtemp(prefix="imagebot-git-"))  # mode 0700
    try:
        env: dict[str, str] = {"GCM_INTERACTIVE": "never"}
        if password:
            askpass = write_private(tmp / "askpass", _ASKPASS.encode(), stat.S_IRWXU)
            env["IMAGEBOT_GIT_USERNAME"] = username or DEFAULT_TOKEN_USERNAME
            env["IMAGEBOT_GIT_PASSWORD"] = password
        else:
            askpass = write_private(tmp / "askpass", _NO_ASKPASS.encode(), stat.S_IRWXU)
        env["GIT_ASKPASS"] = str(askpass)
        env["SSH_ASKPASS"] = str(askpass)
        # An encrypted identity: ssh asks SSH_ASKPASS for its passphrase (Flux's `password` key).
        key_passphrase = bool(auth.identity and password)
        env["SSH_ASKPASS_REQUIRE"] = "force" if key_passphrase else "never"
        ssh = _ssh_command(tmp, auth, key_passphrase)
        if ssh is not None:
            env["GIT_SSH_COMMAND"] = ssh
            env.pop("GIT_SSH", None)
            env["GIT_SSH_VARIANT"] = "ssh"
        config = {}
        basic = None
        if auth.bearer_token and remote.is_http:
            config["http.extraHeader"] = f"Authorization: Bearer {auth.bearer_token}"
        elif password and remote.is_http:
            # Sent with the first request, as Flux does: git would otherwise ask the server, take its 401,
            # run the askpass script twice and ask again, a round trip and two processes per fetch and push.
            # The askpass script stays for what git asks after a 401 (a redirect to another host: curl never
            # sends this header there).
            basic = base64.b64encode(f"{username or DEFAULT_TOKEN_USERNAME}:{password}".encode()).decode()
            config["http.extraHeader"] = f"Authorization: Basic {basic}"
        yield AuthEnv(env, tuple(s for s in (password, auth.bearer_token, basic) if s), config)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ssh_command(tmp: Path, auth: GitAuth, key_passphrase: bool = False) -> str | None:
    if auth.identity is None and auth.known_hosts is None:
        # No secret: the user's own ssh setup (agent, ~/.ssh/config), but never an interactive prompt.
        if os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH"):
            return None
        return "ssh -o BatchMode=yes"
    # BatchMode would also silence the passphrase prompt; without it, only key auth is allowed so the
    # passphrase can never be offered to the server as a login password.
    batch = "no" if key_passphrase else "yes"
    argv = ["ssh", "-F", "/dev/null", "-o", f"BatchMode={batch}", "-o", "StrictHostKeyChecking=yes",
            "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"]
    if auth.identity is not None:
        identity = auth.identity if auth.identity.endswith(b"\n") else auth.identity + b"\n"
        key = write_private(tmp / "identity", identity)
        argv += ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    if auth.known_hosts is not None:
        hosts = write_private(tmp / "known_hosts", auth.known_hosts)
        argv += ["-o", f"UserKnownHostsFile={hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
    return shlex.join(argv)
