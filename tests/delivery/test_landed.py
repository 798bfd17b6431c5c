"""commit_landed: is a commit imagebot set out to push on the remote's ref, even after others pushed
on top of it, from a shallow clone that has never seen their commits?"""

from __future__ import annotations

import time
from pathlib import Path

from imagebot.delivery.git import Author, Checkout, GitSource, commit_landed, deliver
from tests.support.gitremotes import BareRemote, git

AUTHOR = Author("imagebot", "imagebot@example.com")


def bump(workdir: Path) -> str | None:
    path = workdir / "apps/app/deployment.yaml"
    path.write_text(path.read_text().replace("app:1.2.3", "app:1.3.0"))
    return "bump"


def test_landed_at_the_head_below_others_commits_and_not_at_all(tmp_path: Path, bare_remote: BareRemote) -> None:
    source = GitSource(bare_remote.url, "main")
    pushed = deliver(Checkout.prepare(tmp_path / "cache", source), apply=bump, message=lambda c: "bump\n",
                     author=AUTHOR)
    assert pushed is not None
    since = time.time() - 5

    checkout = Checkout.prepare(tmp_path / "cache", source)
    assert commit_landed(checkout, "main", pushed.commit, since) is True

    for i in range(3):  # others push on top; a fresh shallow clone knows none of the history below
        bare_remote.commit({"README.md": f"edit {i}\n"}, f"other {i}")
    fresh = Checkout.prepare(tmp_path / "fresh", source)
    assert git("rev-parse", "--is-shallow-repository", cwd=fresh.workdir).strip() == "true"
    assert commit_landed(fresh, "main", pushed.commit, since) is True

    # a commit that exists only here (made, never pushed) and one nobody has
    fresh.git("commit", "--allow-empty", "-m", "local only", env={
        "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"})
    local = fresh.head
    assert commit_landed(fresh, "main", local, since) is False
    assert commit_landed(fresh, "main", "0123456789abcdef0123456789abcdef01234567", since) is False
    assert commit_landed(fresh, "no-such-branch", pushed.commit, since) is False
    # a ref the remote never lists (Gerrit's refs/for/*): it cannot tell
    assert commit_landed(fresh, "refs/for/main", pushed.commit, since) is None
