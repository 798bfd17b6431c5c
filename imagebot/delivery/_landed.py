"""Whether a commit imagebot set out to push is on the remote: the other half of a push's intent record.

A run killed between `git push` and writing down its delivery leaves only the intent (commit, ref,
time). The next run asks the remote: the ref's head is the commit, or has it as an ancestor (someone
pushed on top since). The history needed is fetched back to a little before the intent, not all of it.
"""

from __future__ import annotations

import time

from imagebot.delivery._checkout import Checkout
from imagebot.delivery._gitcmd import NETWORK_TIMEOUT

# Commit dates come from this machine's clock when the intent was written; allow for a skewed server's.
_SINCE_MARGIN_SECONDS = 86400
_RECONCILE_REF = "refs/imagebot/reconcile"


def commit_landed(checkout: Checkout, ref: str, commit: str, since: float) -> bool | None:
    """True when `commit` is on the remote's `ref`, False when it is not, None when the remote cannot tell
    (a magic ref such as Gerrit's `refs/for/main` that is never listed). Raises GitError when unreachable."""
    full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
    with checkout.network() as runner:
        listed = runner.run("ls-remote", "origin", full, timeout=NETWORK_TIMEOUT,
                            what=f"git ls-remote {checkout.source.display_url}").stdout
        head = next((sha for sha, _, name in (ln.partition("\t") for ln in listed.splitlines()) if name == full),
                    None)
        if head is None:
            return False if full.startswith("refs/heads/") else None
        if head == commit:
            return True
        refspec = f"+{full}:{_RECONCILE_REF}"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(since - _SINCE_MARGIN_SECONDS))
        what = f"git fetch {full} from {checkout.source.display_url}"
        fetched = runner.run("fetch", "--no-tags", f"--shallow-since={stamp}", "origin", refspec,
                             check=False, timeout=NETWORK_TIMEOUT, what=what)
        if fetched.status != 0:  # servers without shallow support (dumb HTTP): the whole ref
            runner.run("fetch", "--no-tags", "origin", refspec, timeout=NETWORK_TIMEOUT, what=what)
    check = checkout.git("merge-base", "--is-ancestor", commit, _RECONCILE_REF, check=False)
    return check.status == 0  # 1: not an ancestor; 128: the commit is unknown here, so not on the ref either
