"""A cached working copy of one branch of a remote: cloned once, fetched afterwards, reset before each use."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import git
from git.refs.symbolic import SymbolicReference

from imagebot.delivery._auth import GitAuth, RemoteURL, auth_session, parse_remote_url
from imagebot.delivery._gitcmd import NETWORK_TIMEOUT, GitError, GitResult, GitRunner
from imagebot.delivery._verify import Verification, verify_commit
from imagebot.proxy import Proxy

log = logging.getLogger("imagebot.git")


@dataclass(frozen=True)
class GitSource:
    """A GitRepository: `url` (https, http, ssh, scp-like, file:// or a local path), a branch, credentials,
    its proxy (proxySecretRef) and the keys its head commit must be signed with (spec.verify)."""

    url: str
    branch: str
    auth: GitAuth | None = field(default=None, repr=False)
    proxy: Proxy | None = field(default=None, repr=False)
    verification: Verification | None = field(default=None, repr=False)

    @property
    def remote(self) -> RemoteURL:
        return parse_remote_url(self.url)

    @property
    def display_url(self) -> str:
        """The URL without credentials, for messages."""
        return self.remote.url

    @property
    def secrets(self) -> tuple[str, ...]:
        remote = self.remote
        found = [*(self.auth.secrets if self.auth else ()), remote.password or "",
                 (self.proxy.password or "") if self.proxy else ""]
        return tuple(s for s in found if s)

    @property
    def cache_id(self) -> str:
        """Stable folder name for this URL and branch: readable prefix, hash for uniqueness."""
        url = self.display_url
        digest = hashlib.sha256(f"{url}\n{self.branch}".encode()).hexdigest()[:16]
        tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.")[:40] or "repo"
        return f"{slug}-{digest}"


# Fetch and commit start `git maintenance run --auto` before returning; tidy() runs it after the push.
_NO_AUTO_MAINTENANCE = {"maintenance.auto": "false"}


def _shallow_unsupported(result: GitResult) -> bool:
    # Dumb HTTP and some old servers cannot serve shallow fetches.
    return "shallow" in result.stderr.lower() or "dumb http" in result.stderr.lower()


@dataclass
class Checkout:
    """A working copy of `source.branch` in `workdir`; `head` is the commit checked out."""

    source: GitSource
    workdir: Path

    @property
    def branch(self) -> str:
        return self.source.branch

    @property
    def head(self) -> str:
        return self.resolve("HEAD")

    def resolve(self, ref: str) -> str:
        """The sha `ref` (HEAD, refs/...) names, read from the ref files: no git process. (GitPython's
        `head.commit` starts a `git cat-file` to learn the object's type.)"""
        with git.Repo(self.workdir) as repo:
            try:
                return SymbolicReference.dereference_recursive(repo, ref)
            except ValueError as err:
                raise GitError(f"{ref} is missing in the clone of {self.source.display_url}") from err

    @classmethod
    def prepare(cls, cache_root: Path, source: GitSource) -> Checkout:
        """Clone into `cache_root/<stable id>`, or fetch if already there; reset the tree to the remote branch."""
        _check_branch_name(source.branch)
        workdir = Path(cache_root) / source.cache_id
        checkout = cls(source, workdir)
        if checkout._usable_cache():
            checkout.refresh()
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.parent.mkdir(parents=True, exist_ok=True)
            checkout._clone()
            checkout._reset()
        return checkout

    @classmethod
    @contextmanager
    def locked(cls, cache_root: Path, source: GitSource, wait: float = 600.0) -> Iterator[Checkout]:
        """`prepare` while holding the clone's lock: another imagebot (a CI job beside the service, a
        second thread) using the same clone waits instead of resetting the tree under it."""
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        with (Path(cache_root) / f"{source.cache_id}.lock").open("a") as lock:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise GitError(f"the clone of {source.display_url} stayed in use by another imagebot "
                                       f"for {wait:.0f}s") from None
                    time.sleep(0.05)
            checkout = None
            try:
                checkout = cls.prepare(cache_root, source)
                yield checkout
            finally:
                try:
                    if checkout is not None:
                        checkout.tidy()
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def refresh(self) -> str:
        """Fetch the branch and reset the working tree to it, dropping local commits and edits."""
        self.fetch_branch(self.branch)
        self._reset()
        return self.head

    # -- operations deliver() builds on ---------------------------------------------------------

    def git(self, *args: str, check: bool = True, stdin: str | None = None,
            config: dict[str, str] | None = None, env: dict[str, str] | None = None) -> GitResult:
        """A local git command in the working copy."""
        runner = GitRunner(self.workdir, dict(env or {}), {**_NO_AUTO_MAINTENANCE, **(config or {})},
                           self.source.secrets)
        return runner.run(*args, check=check, stdin=stdin)

    @contextmanager
    def network(self) -> Iterator[GitRunner]:
        """A runner whose commands may talk to the remote, with the source's credentials in place."""
        with auth_session(self.source.remote, self.source.auth) as auth:
            yield GitRunner(self.workdir, dict(auth.env), {**_NO_AUTO_MAINTENANCE, **auth.config},
                            (*self.source.secrets, *auth.secrets), self.source.proxy)

    def tidy(self) -> None:
        """`git maintenance run --auto` (gc when loose objects pile up), once the work is done: fetch and
        commit would each start it on the way to the push."""
        runner = GitRunner(self.workdir, {}, {}, self.source.secrets)
        try:
            result = runner.run("maintenance", "run", "--auto", "--quiet", check=False, timeout=NETWORK_TIMEOUT)
        except (GitError, OSError) as err:  # a timeout: the clone still works, the next use tries again
            log.warning("git maintenance in the clone of %s: %s", self.source.display_url, err)
            return
        if result.status != 0:
            log.warning("%s", runner.error(f"git maintenance in the clone of {self.source.display_url}", result))

    def fetch_branch(self, branch: str) -> str:
        """Fetch `branch` into refs/remotes/origin/<branch> (shallow where the server allows); its sha."""
        refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
        what = f"git fetch {branch} from {self.source.display_url}"
        with self.network() as runner:
            result = runner.run("fetch", "--depth=1", "--no-tags", "origin", refspec,
                                check=False, timeout=NETWORK_TIMEOUT, what=what)
            if result.status != 0 and _shallow_unsupported(result):
                result = runner.run("fetch", "--no-tags", "origin", refspec,
                                    check=False, timeout=NETWORK_TIMEOUT, what=what)
            if result.status != 0:
                if "couldn't find remote ref" in result.stderr:
                    raise GitError(f"branch {branch!r} not found at {self.source.display_url}")
                raise runner.error(what, result)
        return self.resolve(f"refs/remotes/origin/{branch}")

    def remote_branch_sha(self, branch: str) -> str | None:
        """The sha `branch` has on the remote now, or None when it does not exist."""
        with self.network() as runner:
            out = runner.run("ls-remote", "--heads", "origin", f"refs/heads/{branch}",
                             timeout=NETWORK_TIMEOUT, what=f"git ls-remote {self.source.display_url}").stdout
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    # -- internals ------------------------------------------------------------------------------

    def _usable_cache(self) -> bool:
        try:
            repo = git.Repo(self.workdir)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return False
        with repo:
            if repo.working_tree_dir is None or Path(repo.working_tree_dir) != self.workdir.resolve():
                return False
            try:
                return repo.remotes.origin.url == self.source.display_url
            except (AttributeError, IndexError, ValueError):
                return False

    def _clone(self) -> None:
        url, branch = self.source.display_url, self.branch
        what = f"git clone {url} (branch {branch})"
        base = ("clone", "--single-branch", "--branch", branch, "--no-tags")
        with auth_session(self.source.remote, self.source.auth) as auth:
            runner = GitRunner(None, dict(auth.env), dict(auth.config), (*self.source.secrets, *auth.secrets),
                               self.source.proxy)
            result = runner.run(*base, "--depth=1", "--", url, str(self.workdir),
                                check=False, timeout=NETWORK_TIMEOUT, what=what)
            if result.status != 0 and _shallow_unsupported(result):
                shutil.rmtree(self.workdir, ignore_errors=True)
                result = runner.run(*base, "--", url, str(self.workdir),
                                    check=False, timeout=NETWORK_TIMEOUT, what=what)
            if result.status != 0:
                shutil.rmtree(self.workdir, ignore_errors=True)
                if "not found in upstream" in result.stderr:
                    raise GitError(f"branch {branch!r} not found at {url}")
                raise runner.error(what, result)

    def _reset(self) -> None:
        # spec.verify: the remote's head is checked before any of its files is used (or built on)
        if self.source.verification is not None:
            verify_commit(self.workdir, f"refs/remotes/origin/{self.branch}", self.source.verification,
                          self.source.display_url)
        # --force -B: the branch, the index and the tracked files become the remote's, as `reset --hard`
        # would make them; clean takes what is left (untracked and ignored files).
        self.git("checkout", "--quiet", "--force", "-B", self.branch, f"refs/remotes/origin/{self.branch}")
        self.git("clean", "-ffdxq")


def _check_branch_name(branch: str) -> None:
    if not branch or branch.startswith("-"):
        raise GitError(f"invalid branch name {branch!r}")
    if not _valid_branch_name(branch):
        raise GitError(f"invalid branch name {branch!r}")


@functools.lru_cache(maxsize=256)
def _valid_branch_name(branch: str) -> bool:
    # git's own rules, asked once per name: a service asks for the same few names on every run.
    return GitRunner().run("check-ref-format", "--branch", branch, check=False).status == 0
