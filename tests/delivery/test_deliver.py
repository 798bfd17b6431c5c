"""deliver() against real bare repositories: one commit, no clobbering, push branches, refspecs, options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagebot.delivery.git import Author, Checkout, GitError, GitSource, PushRejected, deliver
from imagebot.failures import FailureKind
from tests.support.gitremotes import BareRemote, commit_on_remote, git

AUTHOR = Author("imagebot", "imagebot@example.com")
DEPLOYMENT = "apps/app/deployment.yaml"


class BumpTag:
    """An `apply` that sets the app image tag, recomputed from the files it finds each time."""

    def __init__(self, new: str, on_call=None) -> None:
        self.new = new
        self.calls = 0
        self.on_call = on_call

    def __call__(self, workdir: Path) -> str | None:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        path = workdir / DEPLOYMENT
        text = path.read_text()
        edited = re.sub(r"ghcr\.io/example/app:[^\s#]+", f"ghcr.io/example/app:{self.new}", text)
        if edited == text:
            return None
        path.write_text(edited)
        return f"app -> {self.new}"


def message(change: str) -> str:
    return f"Update {change}\n"


def prepare(tmp_path: Path, remote: BareRemote, url: str | None = None) -> Checkout:
    return Checkout.prepare(tmp_path / "cache", GitSource(url or remote.url, remote.branch))


def test_one_commit_pushed_to_the_checkout_branch(tmp_path: Path, bare_remote: BareRemote) -> None:
    before = bare_remote.head()
    checkout = prepare(tmp_path, bare_remote)

    outcome = deliver(checkout, apply=BumpTag("1.3.0"), message=message, author=AUTHOR)

    assert outcome is not None and outcome.pushed and outcome.attempts == 1
    assert outcome.branch == "main" and outcome.change == "app -> 1.3.0"
    assert bare_remote.head() == outcome.commit
    assert bare_remote.parents(outcome.commit) == [before]
    assert "ghcr.io/example/app:1.3.0 #" in bare_remote.read(DEPLOYMENT)
    assert bare_remote.log()[0] == "Update app -> 1.3.0"
    author = bare_remote.message(outcome.commit)
    assert author.strip() == "Update app -> 1.3.0"


def test_no_change_means_no_commit_and_a_second_run_is_idempotent(tmp_path: Path,
                                                                 bare_remote: BareRemote) -> None:
    first = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message, author=AUTHOR)
    assert first is not None
    head = bare_remote.head()

    again = BumpTag("1.3.0")
    second = deliver(prepare(tmp_path, bare_remote), apply=again, message=message, author=AUTHOR)

    assert second is None and again.calls == 1
    assert bare_remote.head() == head and len(bare_remote.log()) == 2


def test_apply_that_reports_a_change_but_edits_nothing_makes_no_commit(tmp_path: Path,
                                                                       bare_remote: BareRemote) -> None:
    head = bare_remote.head()
    outcome = deliver(prepare(tmp_path, bare_remote), apply=lambda _wd: "claimed", message=message,
                      author=AUTHOR)
    assert outcome is None and bare_remote.head() == head


def test_race_with_another_writer_recomputes_on_the_new_head(tmp_path: Path, bare_remote: BareRemote) -> None:
    checkout = prepare(tmp_path, bare_remote)
    theirs: list[str] = []

    def other_writer_pushes_first(call: int) -> None:
        if call == 1:  # between our fetch and our push
            theirs.append(bare_remote.commit({"README.md": "edited by a human\n"}, "human edit"))

    apply = BumpTag("1.3.0", on_call=other_writer_pushes_first)
    outcome = deliver(checkout, apply=apply, message=message, author=AUTHOR, backoff_seconds=0.01)

    assert outcome is not None and outcome.pushed
    assert apply.calls == 2 and outcome.attempts == 2
    assert bare_remote.parents(outcome.commit) == theirs  # ours on top of theirs, nothing lost
    assert bare_remote.read("README.md") == "edited by a human\n"
    assert "app:1.3.0" in bare_remote.read(DEPLOYMENT)
    assert bare_remote.log()[:2] == ["Update app -> 1.3.0", "human edit"]


def test_recompute_sees_the_other_writers_edit_of_the_same_file(tmp_path: Path,
                                                               bare_remote: BareRemote) -> None:
    checkout = prepare(tmp_path, bare_remote)

    def someone_bumps_first(call: int) -> None:
        if call == 1:
            text = bare_remote.read(DEPLOYMENT).replace("app:1.2.3", "app:1.3.0")
            bare_remote.commit({DEPLOYMENT: text}, "manual bump")

    apply = BumpTag("1.3.0", on_call=someone_bumps_first)
    outcome = deliver(checkout, apply=apply, message=message, author=AUTHOR, backoff_seconds=0.01)

    # The stale diff is never replayed: on the new head there is nothing left to do.
    assert outcome is None and apply.calls == 2
    assert bare_remote.log()[0] == "manual bump"


def test_bounded_retries_when_the_remote_keeps_moving(tmp_path: Path, bare_remote: BareRemote) -> None:
    checkout = prepare(tmp_path, bare_remote)
    apply = BumpTag("1.3.0", on_call=lambda call: bare_remote.commit({"README.md": f"edit {call}\n"}))

    with pytest.raises(GitError, match=r"rejected 3 times") as err:
        deliver(checkout, apply=apply, message=message, author=AUTHOR, attempts=3, backoff_seconds=0.01)

    assert apply.calls == 3 and isinstance(err.value, PushRejected) and err.value.kind == "push"
    assert "fetch first" in str(err.value) or "non-fast-forward" in str(err.value)
    assert bare_remote.log()[0] == "another writer" and "app:1.2.3" in bare_remote.read(DEPLOYMENT)


def test_a_declined_push_fails_at_once_with_the_servers_reason(tmp_path: Path,
                                                              bare_remote: BareRemote) -> None:
    checkout = prepare(tmp_path, bare_remote)
    bare_remote.reject_pushes("main is protected: open a pull request")
    apply = BumpTag("1.3.0")

    with pytest.raises(GitError, match="main is protected") as err:
        deliver(checkout, apply=apply, message=message, author=AUTHOR, backoff_seconds=0.01)

    assert apply.calls == 1 and "pre-receive hook declined" in str(err.value)
    assert isinstance(err.value, PushRejected) and err.value.kind == FailureKind.PUSH


def test_a_push_that_cannot_reach_the_remote_is_a_git_failure_not_a_rejection(
        tmp_path: Path, bare_remote: BareRemote) -> None:
    checkout = prepare(tmp_path, bare_remote)
    checkout.git("remote", "set-url", "--push", "origin", str(tmp_path / "gone.git"))

    with pytest.raises(GitError) as err:
        deliver(checkout, apply=BumpTag("1.3.0"), message=message, author=AUTHOR, attempts=1)

    assert not isinstance(err.value, PushRejected) and err.value.kind == FailureKind.GIT


def test_separate_push_branch_is_reset_to_checkout_plus_change(tmp_path: Path,
                                                               bare_remote: BareRemote) -> None:
    main_before = bare_remote.head()
    outcome = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                      author=AUTHOR, push_branch="imagebot/app")

    assert outcome is not None and outcome.pushed and outcome.branch == "imagebot/app"
    assert bare_remote.head() == main_before  # the checkout branch is untouched
    assert bare_remote.head("imagebot/app") == outcome.commit
    assert bare_remote.parents(outcome.commit) == [main_before]

    # Same change again: the push branch already holds it, nothing is pushed.
    again = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                    author=AUTHOR, push_branch="imagebot/app")
    assert again is not None and not again.pushed and again.commit == outcome.commit

    # The checkout branch moves on: the push branch is rebuilt on its new head (a forced, leased update).
    new_main = bare_remote.commit({"README.md": "new base\n"}, "unrelated change on main")
    rebuilt = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.4.0"), message=message,
                      author=AUTHOR, push_branch="imagebot/app")
    assert rebuilt is not None and rebuilt.pushed
    assert bare_remote.parents(rebuilt.commit) == [new_main]
    assert bare_remote.head("imagebot/app") == rebuilt.commit
    assert "app:1.4.0" in bare_remote.read(DEPLOYMENT, "imagebot/app")
    assert bare_remote.head() == new_main


def test_push_branch_lease_protects_a_concurrent_update(tmp_path: Path, bare_remote: BareRemote) -> None:
    first = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                    author=AUTHOR, push_branch="imagebot/app")
    assert first is not None
    checkout = prepare(tmp_path, bare_remote)
    sneaky: list[str] = []

    def someone_pushes_to_the_push_branch(call: int) -> None:
        if call == 1:  # after we read the lease, before we push
            sneaky.append(bare_remote.commit({"NOTE.md": "x\n"}, "sneaky", branch="imagebot/app"))

    apply = BumpTag("1.4.0", on_call=someone_pushes_to_the_push_branch)
    outcome = deliver(checkout, apply=apply, message=message, author=AUTHOR, push_branch="imagebot/app",
                      backoff_seconds=0.01)

    assert outcome is not None and outcome.pushed and outcome.attempts == 2 and apply.calls == 2
    # The first, stale lease was refused: the branch was only replaced after we had seen `sneaky`.
    assert bare_remote.head("imagebot/app") == outcome.commit


def test_refspec_alone_pushes_only_there(tmp_path: Path, bare_remote: BareRemote) -> None:
    main_before = bare_remote.head()
    outcome = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                      author=AUTHOR, refspec="HEAD:refs/for/main")

    assert outcome is not None and outcome.pushed
    assert bare_remote.ref("refs/for/main") == outcome.commit  # Gerrit's review ref
    assert bare_remote.head() == main_before


def test_push_branch_and_refspec_push_both(tmp_path: Path, bare_remote: BareRemote) -> None:
    outcome = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                      author=AUTHOR, push_branch="auto", refspec="refs/heads/auto:refs/heads/mirror")
    assert outcome is not None
    assert bare_remote.head("auto") == outcome.commit == bare_remote.head("mirror")


def test_push_options_reach_the_server(tmp_path: Path, bare_remote: BareRemote) -> None:
    received = tmp_path / "push-options.txt"
    bare_remote.enable_push_options(received)
    outcome = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                      author=AUTHOR, push_options=["merge_request.create", "merge_request.target=main"])

    assert outcome is not None and outcome.pushed
    assert received.read_text().splitlines() == ["merge_request.create", "merge_request.target=main"]


def test_push_options_refused_by_a_server_that_does_not_advertise_them(tmp_path: Path,
                                                                       bare_remote: BareRemote) -> None:
    with pytest.raises(GitError, match="push options"):
        deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message, author=AUTHOR,
                push_options=["ci.skip"])
    assert "app:1.2.3" in bare_remote.read(DEPLOYMENT)


def test_empty_message_is_refused(tmp_path: Path, bare_remote: BareRemote) -> None:
    with pytest.raises(GitError, match="messageTemplate"):
        deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=lambda _c: "  \n",
                author=AUTHOR)
    assert len(bare_remote.log()) == 1


def test_commit_author_and_committer(tmp_path: Path, bare_remote: BareRemote) -> None:
    outcome = deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message,
                      author=Author("Flux Bot", "flux@example.org"))
    assert outcome is not None
    who = git("log", "-1", "--format=%an <%ae>|%cn <%ce>", outcome.commit, cwd=bare_remote.path).strip()
    assert who == "Flux Bot <flux@example.org>|Flux Bot <flux@example.org>"


def test_a_stale_checkout_catches_up_on_retry(tmp_path: Path, bare_remote: BareRemote) -> None:
    checkout = prepare(tmp_path, bare_remote)
    commit_on_remote(bare_remote.url, {"x": "y\n"}, "feature work", branch="main")
    # Our checkout is now behind: the first push is rejected, the second lands on the new head.
    apply = BumpTag("1.3.0")
    outcome = deliver(checkout, apply=apply, message=message, author=AUTHOR, backoff_seconds=0.01)
    assert outcome is not None and outcome.attempts == 2 and bare_remote.log()[1] == "feature work"


def test_a_refspec_may_not_force_push_the_checkout_branch(tmp_path: Path, bare_remote: BareRemote) -> None:
    apply = BumpTag("1.3.0")
    with pytest.raises(GitError, match="would force-push the checkout branch"):
        deliver(prepare(tmp_path, bare_remote), apply=apply, message=message, author=AUTHOR,
                refspec="+HEAD:refs/heads/main")
    assert apply.calls == 0 and len(bare_remote.log()) == 1


def empty_commit_on(remote: BareRemote, tmp_path: Path) -> str:
    """Another writer's commit that changes no file: the base moves, its tree does not."""
    work = tmp_path / "empty-writer"
    git("clone", "--quiet", "--branch", remote.branch, remote.url, str(work))
    git("commit", "--quiet", "--allow-empty", "-m", "empty", cwd=work)
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{remote.branch}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def test_push_branch_is_rebuilt_when_the_base_moves_though_the_tag_does_not(tmp_path: Path,
                                                                           bare_remote: BareRemote) -> None:
    def run() -> object:
        return deliver(prepare(tmp_path, bare_remote), apply=BumpTag("1.3.0"), message=message, author=AUTHOR,
                       push_branch="imagebot/app")

    first = run()
    assert first is not None and first.pushed

    # the base gains a file: same tag, but the push branch must carry the new base
    moved = bare_remote.commit({"README.md": "new base\n"}, "unrelated change on main")
    rebuilt = run()
    assert rebuilt is not None and rebuilt.pushed and rebuilt.commit != first.commit
    assert bare_remote.parents(rebuilt.commit) == [moved] and bare_remote.head("imagebot/app") == rebuilt.commit
    assert bare_remote.read("README.md", "imagebot/app") == "new base\n"

    # the base moves with no change to any file: the tree is the same, the parent is not
    empty = empty_commit_on(bare_remote, tmp_path)
    again = run()
    assert again is not None and again.pushed and bare_remote.parents(again.commit) == [empty]
    assert bare_remote.head("imagebot/app") == again.commit

    # nothing moved: nothing pushed
    still = run()
    assert still is not None and not still.pushed and still.commit == again.commit
