"""One commit per delivery, pushed without clobbering anyone: on a moved remote, refetch and recompute."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from imagebot.delivery._checkout import Checkout, _check_branch_name
from imagebot.delivery._gitcmd import NETWORK_TIMEOUT, GitError, PushRejected, scrub
from imagebot.delivery._signing import Signing, signing_config
from imagebot.retry import Backoff

T = TypeVar("T")
log = logging.getLogger("imagebot.git")

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class Author:
    """`git.commit.author`: used as author and committer."""

    name: str
    email: str


@dataclass(frozen=True)
class PushOutcome(Generic[T]):
    """What a delivery did. `pushed` is False when the push branch already held exactly this change."""

    commit: str
    branch: str
    pushed: bool
    attempts: int
    change: T


@dataclass(frozen=True)
class _PushResult:
    ok: bool
    retryable: bool
    detail: str
    rejected: bool = False  # the remote answered and refused a ref (not a transport or auth failure)


def deliver(
    checkout: Checkout,
    *,
    apply: Callable[[Path], T | None],
    message: Callable[[T], str],
    author: Author,
    signing: Signing | None = None,
    push_branch: str | None = None,
    refspec: str | None = None,
    push_options: Sequence[str] = (),
    attempts: int = 5,
    backoff_seconds: float = 0.5,
    before_push: Callable[[str, str, T], None] | None = None,
) -> PushOutcome[T] | None:
    """Apply, commit once and push; None when `apply` reports nothing to change.

    The checkout branch only ever moves forward: a rejected push means someone else pushed, so the
    checkout is refetched and `apply` runs again on the new head (never replaying a stale diff), up to
    `attempts` times with exponential backoff. A `push_branch` other than the checkout branch is reset to
    checkout head + change and pushed with --force-with-lease. With only a `refspec` (Flux's
    `push.refspec`, e.g. `HEAD:refs/for/main` for Gerrit) the commit is pushed there and nowhere else;
    with both, to the branch and then the refspec.

    `before_push(commit, ref, change)` runs before every push attempt, so the caller can write down what is
    about to land where (`ref`: the branch, or the refspec's destination) and find it again after a crash.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    target = push_branch or (None if refspec else checkout.branch)
    if target is not None:
        _check_branch_name(target)
    if refspec and refspec.startswith("+") and refspec.rsplit(":", 1)[-1] in (
        checkout.branch, f"refs/heads/{checkout.branch}"
    ):
        raise GitError(f"push.refspec {refspec!r} would force-push the checkout branch {checkout.branch!r}; "
                       "drop the leading '+'")
    separate = target is not None and target != checkout.branch
    backoff = Backoff(initial=backoff_seconds, maximum=MAX_BACKOFF_SECONDS)  # the one backoff, full jitter
    last_rejection = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(backoff.delay(attempt - 2))
            checkout.refresh()
        base = checkout.head
        lease: str | None = None
        if separate:
            assert target is not None
            lease = checkout.remote_branch_sha(target)
            if lease is not None:
                lease = checkout.fetch_branch(target)
        change = apply(checkout.workdir)
        log.debug("files updated" if change is not None else "nothing to update")
        if change is None:
            return None
        checkout.git("add", "--all")
        if checkout.git("diff", "--cached", "--quiet", check=False).status == 0:
            return None  # apply reported a change but the files are as they were
        text = message(change)
        log.debug("commit message written")
        sha = _commit(checkout, text, author, signing)
        log.debug("committed %s", sha[:12])
        if separate:
            assert target is not None
            checkout.git("branch", "--force", target, "HEAD")  # so a refspec may name the push branch
            if lease is not None and _same_change(checkout, lease, sha, base):
                return PushOutcome(lease, target, False, attempt, change)
        if before_push is not None:
            before_push(sha, target or refspec_destination(refspec or ""), change)
        if target is not None:
            lease_arg = f"--force-with-lease=refs/heads/{target}:{lease or ''}" if separate else None
            result = _push(checkout, [f"HEAD:refs/heads/{target}"], push_options, lease_arg)
        else:
            assert refspec is not None
            result = _push(checkout, [refspec], push_options, None)
        if result.ok:
            if target is not None and refspec:
                extra = _push(checkout, [refspec], push_options, None)
                if not extra.ok:
                    raise GitError(f"pushed {sha[:12]} to {target}, but pushing refspec {refspec!r} "
                                   f"failed: {extra.detail}")
            return PushOutcome(sha, target or refspec or checkout.branch, True, attempt, change)
        if not result.retryable:
            error = PushRejected if result.rejected else GitError
            raise error(f"push to {checkout.source.display_url} failed: {result.detail}")
        last_rejection = result.detail
    raise PushRejected(
        f"push to {checkout.source.display_url} was rejected {attempts} times because the remote kept "
        f"moving ({last_rejection}); the next run will try again"
    )


def refspec_destination(refspec: str) -> str:
    """`HEAD:refs/for/main` -> `refs/for/main`; a refspec without a colon pushes to the same name."""
    return refspec.lstrip("+").rsplit(":", 1)[-1]


def _commit(checkout: Checkout, text: str, author: Author, signing: Signing | None) -> str:
    if not text.strip():
        raise GitError("the commit message is empty: check git.commit.messageTemplate")
    env = {
        "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email,
    }
    with signing_config(signing) as sign:
        result = checkout.git(
            "commit", "--quiet", "--no-verify", "--cleanup=whitespace", "--file=-",
            stdin=text, config=sign.config, env=env, check=False,
        )
        if result.status != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            what = "signing the commit" if signing is not None else "git commit"
            kind = f" ({signing.kind} key)" if signing is not None else ""
            raise GitError(scrub(f"{what}{kind} failed: {' | '.join(detail[-4:])}",
                                 (*sign.secrets, *checkout.source.secrets)))
    return checkout.head


def _raw_parents(checkout: Checkout, sha: str) -> list[str]:
    # cat-file shows the stored object: a shallow boundary commit still names its parents.
    raw = checkout.git("cat-file", "commit", sha).stdout
    header = raw.split("\n\n", 1)[0]
    return [line.split(" ", 1)[1] for line in header.splitlines() if line.startswith("parent ")]


def _same_change(checkout: Checkout, remote_sha: str, ours: str, base: str) -> bool:
    trees = checkout.git("rev-parse", f"{remote_sha}^{{tree}}", f"{ours}^{{tree}}").stdout.split()
    return trees[0] == trees[1] and _raw_parents(checkout, remote_sha) == [base]


_RETRYABLE_REMOTE = ("cannot lock ref", "incorrect old value", "failed to update ref", "failed to lock")


def _push(checkout: Checkout, refspecs: list[str], options: Sequence[str], lease: str | None) -> _PushResult:
    args = ["push", "--porcelain", "--no-verify"]
    args += [f"--push-option={opt}" for opt in options]
    if lease:
        args.append(lease)
    with checkout.network() as runner:
        runner.config.update({"push.gpgSign": "false", "push.followTags": "false"})
        result = runner.run(*args, "origin", *refspecs, check=False, timeout=NETWORK_TIMEOUT,
                            what=f"git push to {checkout.source.display_url}")
        if result.status == 0:
            return _PushResult(True, False, "")
        rejected = [ln.split("\t")[2] for ln in result.stdout.splitlines()
                    if ln.startswith("!") and ln.count("\t") >= 2]
        if rejected:
            detail = "; ".join(rejected)
            retryable = all(
                r.startswith("[rejected]") or any(s in r for s in _RETRYABLE_REMOTE) for r in rejected
            )
            if not retryable:
                detail += " — " + str(runner.error("push", result)).removeprefix("push failed: ")
            return _PushResult(False, retryable, scrub(detail, runner.secrets), rejected=True)
        return _PushResult(False, False, str(runner.error("push", result)).removeprefix("push failed: "))
