"""Running `git` with a controlled environment, and turning its failures into safe, actionable errors."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imagebot.failures import Failure, FailureKind
from imagebot.proxy import Proxy, env_proxy_git_config, git_env_proxies
from imagebot.redact import scrub

log = logging.getLogger("imagebot.git")

# Network operations get a generous bound; local ones are quick.
NETWORK_TIMEOUT = 300.0
LOCAL_TIMEOUT = 60.0

# Variables that would point git at another repository (set when running inside a git hook), or feed
# it configuration and templates of the operator's instead of ours.
_FOREIGN_ENV = frozenset({
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL", "GIT_TEMPLATE_DIR",
    "GIT_EXTERNAL_DIFF", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_ATTR_SOURCE",
})
# The operator's own git setup (system and global config, hooks) never applies to imagebot's git: a
# global core.hooksPath, filter driver or fsmonitor would run their programs on our checkouts. What
# imagebot needs (identity, signing, credentials) it always passes explicitly.
_ISOLATED_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
_ISOLATED_CONFIG = {"core.hooksPath": os.devnull, "core.fsmonitor": "false"}

# Lines of git's stderr that say nothing about the failure.
_NOISE = ("hint:", "Cloning into", "error: unable to read askpass response")


class GitError(Failure):
    """A git operation failed. The text never holds credentials."""

    kind = FailureKind.GIT


class PushRejected(GitError):
    """The remote refused the push: it kept moving past our retries, or a hook or rule declined it."""

    kind = FailureKind.PUSH


def config_env(pairs: Mapping[str, str]) -> dict[str, str]:
    """Pass git configuration through the environment (never argv, never .git/config)."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment imagebot runs git in: the process's, without the operator's git setup. Proxy
    variables keep the meaning httpx gives them (HTTP_PROXY in upper case too), so that git and the
    registry and notification requests take the same way out."""
    inherited = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    return {**inherited, **git_env_proxies(), "LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0",
            **_ISOLATED_ENV, **(extra or {})}


@dataclass(frozen=True)
class GitResult:
    status: int
    stdout: str
    stderr: str


@dataclass
class GitRunner:
    """Runs git in `cwd` with extra environment; `secrets` are scrubbed from any error text."""

    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    proxy: Proxy | None = None  # the GitRepository's proxySecretRef: all of git's HTTP(S) goes through it

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = LOCAL_TIMEOUT,
        what: str | None = None,
    ) -> GitResult:
        # The proxy's URL carries its credentials: it goes into git's environment, never its argv.
        env = git_env({**(self.proxy.git_env() if self.proxy else {}), **self.env})
        # Credential helpers could store a password we hand over, so none run; an empty value resets the list.
        proxy_config = self.proxy.git_config() if self.proxy else env_proxy_git_config()
        env.update(config_env({**_ISOLATED_CONFIG, "credential.helper": "", **proxy_config, **self.config}))
        started = time.monotonic()
        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.cwd, env=env, input=stdin, capture_output=True, text=True,
                timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"{what or 'git ' + args[0]} timed out after {timeout:.0f} s") from exc
        if log.isEnabledFor(logging.DEBUG):  # where a delivery's time goes (bench/latency.py --trace)
            ms = 1000 * (time.monotonic() - started)
            log.debug("git %s: exit %d in %.1f ms", args[0], proc.returncode, ms,
                      extra={"git": args[0], "git_ms": round(ms, 1)})
        result = GitResult(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise self.error(what or f"git {args[0]}", result)
        return result

    def error(self, what: str, result: GitResult) -> GitError:
        detail = _last_lines(result.stderr or result.stdout)
        text = f"{what} failed: {detail}" if detail else f"{what} failed (exit {result.status})"
        if _PROXY_REFUSED in result.stderr or "returned error: 407" in result.stderr:
            refused = (self.proxy.refused("the git server") if self.proxy else
                       "the proxy (from HTTPS_PROXY/http_proxy) refused the request: 407 Proxy Authentication "
                       "Required — put its credentials in the variable or use the GitRepository's proxySecretRef")
            return GitError(scrub(f"{what} failed: {refused}", self.secrets))
        hint = hint_for(result.stderr)
        if hint:
            text += f" ({hint})"
        return GitError(scrub(text, self.secrets))


_PROXY_REFUSED = "Received HTTP code 407 from proxy"


def _last_lines(text: str, keep: int = 6) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith(_NOISE)]
    return " | ".join(lines[-keep:])


_HINTS: Sequence[tuple[str, str]] = (
    ("Authentication failed", "check the username and password/token in the GitRepository's secret"),
    ("could not read Username", "the remote wants credentials: set username/password in the secret"),
    ("could not read Password", "the remote wants a password: set password in the secret"),
    ("Permission denied (publickey", "check the identity in the secret and that the remote accepts its key"),
    ("Host key verification failed", "add the server's key to known_hosts in the secret"),
    ("Could not resolve host", "check the repository URL and DNS"),
    ("Connection refused", "check the repository URL and that the server is running"),
    ("not found in upstream", "check the branch name (spec.ref.branch / git.checkout.ref.branch)"),
    ("does not appear to be a git repository", "check the repository URL"),
    ("Repository not found", "check the repository URL and the credentials' access"),
    ("does not support push options", "the server does not accept push options: remove git.push.options"),
    ("gpg failed to sign", "check git.asc and the passphrase in the signing key secret"),
)


def hint_for(stderr: str) -> str | None:
    for needle, hint in _HINTS:
        if needle in stderr:
            return hint
    return None


def write_private(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """A new file only its owner can read (keys, credentials), never an existing one overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path
