"""Git delivery: a cached checkout of a GitRepository, one commit per delivery, pushes that never clobber.

    checkout = Checkout.prepare(state_dir / "git", GitSource(url, branch, GitAuth(...)))
    outcome = deliver(checkout, apply=edit_files, message=render, author=Author("imagebot", "bot@x"))
"""

from imagebot.delivery._auth import GitAuth
from imagebot.delivery._checkout import Checkout, GitSource
from imagebot.delivery._gitcmd import GitError, PushRejected, scrub
from imagebot.delivery._landed import commit_landed
from imagebot.delivery._push import Author, PushOutcome, deliver
from imagebot.delivery._signing import Signing
from imagebot.delivery._verify import Verification

__all__ = [
    "Author",
    "Checkout",
    "GitAuth",
    "GitError",
    "GitSource",
    "PushOutcome",
    "PushRejected",
    "Signing",
    "Verification",
    "commit_landed",
    "deliver",
    "scrub",
]
