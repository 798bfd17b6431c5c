"""Checkout.prepare: cached clones, fetched on later runs, shallow, reset to the remote branch."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from imagebot.delivery.git import Checkout, GitError, GitSource
from tests.support.gitremotes import BareRemote, git


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_clone_by_path_or_file_url(tmp_path: Path, bare_remote: BareRemote, form: str) -> None:
    url = str(bare_remote.path) if form == "path" else bare_remote.url
    checkout = Checkout.prepare(tmp_path / "cache", GitSource(url, "main"))

    assert checkout.workdir.parent == tmp_path / "cache"
    assert checkout.head == bare_remote.head()
    assert (checkout.workdir / "apps/app/deployment.yaml").is_file()
    assert (checkout.workdir / ".git/shallow").is_file()  # shallow, even for a local path


def test_second_prepare_fetches_into_the_same_clone(tmp_path: Path, bare_remote: BareRemote) -> None:
    source = GitSource(bare_remote.url, "main")
    first = Checkout.prepare(tmp_path / "cache", source)
    marker = first.workdir / ".git" / "imagebot-was-here"
    marker.write_text("kept unless re-cloned")
    new_head = bare_remote.commit({"README.md": "changed\n"}, "newer")

    second = Checkout.prepare(tmp_path / "cache", source)

    assert second.workdir == first.workdir and marker.exists()
    assert second.head == new_head
    assert (second.workdir / "README.md").read_text() == "changed\n"


def test_prepare_discards_leftover_edits_and_commits(tmp_path: Path, bare_remote: BareRemote) -> None:
    source = GitSource(bare_remote.url, "main")
    checkout = Checkout.prepare(tmp_path / "cache", source)
    (checkout.workdir / "README.md").write_text("half-done edit\n")
    (checkout.workdir / "stray.txt").write_text("untracked\n")
    git("commit", "-qam", "local only", cwd=checkout.workdir)

    again = Checkout.prepare(tmp_path / "cache", source)

    assert again.head == bare_remote.head()
    assert (again.workdir / "README.md").read_text() == "manifests\n"
    assert not (again.workdir / "stray.txt").exists()


def test_a_broken_cache_is_recloned(tmp_path: Path, bare_remote: BareRemote) -> None:
    source = GitSource(bare_remote.url, "main")
    checkout = Checkout.prepare(tmp_path / "cache", source)
    git("remote", "set-url", "origin", "file:///somewhere/else.git", cwd=checkout.workdir)

    again = Checkout.prepare(tmp_path / "cache", source)

    assert again.head == bare_remote.head()
    assert git("remote", "get-url", "origin", cwd=again.workdir).strip() == bare_remote.url


def test_different_branches_get_different_clones(tmp_path: Path, bare_remote: BareRemote) -> None:
    bare_remote.commit({"env": "staging\n"}, "staging", branch="main")
    git("branch", "staging", "main", cwd=bare_remote.path)
    main = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "main"))
    staging = Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "staging"))
    assert main.workdir != staging.workdir
    assert main.workdir.name.startswith("remote-") and staging.workdir.name.startswith("remote-")


def test_missing_branch_is_a_clear_error(tmp_path: Path, bare_remote: BareRemote) -> None:
    with pytest.raises(GitError, match=r"branch 'nope' not found at file://"):
        Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "nope"))
    assert not any((tmp_path / "cache").iterdir())


def test_branch_deleted_after_clone_is_a_clear_error(tmp_path: Path, bare_remote: BareRemote) -> None:
    git("branch", "gone", "main", cwd=bare_remote.path)
    source = GitSource(bare_remote.url, "gone")
    Checkout.prepare(tmp_path / "cache", source)
    git("branch", "-D", "gone", cwd=bare_remote.path)
    with pytest.raises(GitError, match=r"branch 'gone' not found"):
        Checkout.prepare(tmp_path / "cache", source)


def test_invalid_branch_name_is_refused(tmp_path: Path, bare_remote: BareRemote) -> None:
    with pytest.raises(GitError, match="invalid branch name"):
        Checkout.prepare(tmp_path / "cache", GitSource(bare_remote.url, "--upload-pack=evil"))


def test_missing_repository_says_to_check_the_url(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="check the repository URL"):
        Checkout.prepare(tmp_path / "cache", GitSource((tmp_path / "absent.git").as_uri(), "main"))


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="unsupported repository URL scheme 'ftp'"):
        Checkout.prepare(tmp_path / "cache", GitSource("ftp://example.com/repo.git", "main"))


def test_a_clone_in_use_makes_the_next_user_wait(tmp_path: Path, bare_remote: BareRemote) -> None:
    import subprocess
    import sys
    import textwrap

    source = GitSource(bare_remote.url, "main")
    # another process (a CI job beside the service) holds the clone
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from imagebot.delivery.git import Checkout, GitSource
        with Checkout.locked(Path({str(tmp_path / 'cache')!r}), GitSource({source.url!r}, "main")):
            print("holding", flush=True)
            time.sleep(1.5)
            Path({str(tmp_path / 'done')!r}).touch()  # the last thing done while holding the clone
        """)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(GitError, match="stayed in use by another imagebot"), \
                Checkout.locked(tmp_path / "cache", source, wait=0.3):
            pass
        with Checkout.locked(tmp_path / "cache", source, wait=30) as checkout:  # waits for the holder
            assert (tmp_path / "done").exists()  # we got the clone only after the holder was through with it
            assert checkout.head == bare_remote.head()
    finally:
        holder.wait(timeout=30)


def test_loose_objects_are_packed_after_the_work_not_during_it(tmp_path: Path, bare_remote: BareRemote) -> None:
    # Fetch and commit would each start `git maintenance run --auto` on the way to the push; the clone's
    # maintenance runs once the holder of Checkout.locked is done, before the lock is let go.
    source = GitSource(bare_remote.url, "main")
    with Checkout.locked(tmp_path / "cache", source) as checkout:
        git("config", "gc.auto", "1", cwd=checkout.workdir)  # any loose object is too many
        git("config", "gc.autoDetach", "false", cwd=checkout.workdir)  # done when maintenance returns
        # gc --auto estimates the loose objects from those in objects/17/: put three there
        for i, text in enumerate(_blobs_in_folder_17(3)):
            (checkout.workdir / f"file-{i}.txt").write_text(text)
        git("add", "--all", cwd=checkout.workdir)
        checkout.git("commit", "--quiet", "-m", "many files", env={
            "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com",
            "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"})
        loose = [p for p in (checkout.workdir / ".git/objects").glob("??/*")]
        assert len(loose) >= 3, "the commit started no maintenance of its own"
        workdir = checkout.workdir

    assert list((workdir / ".git/objects").glob("??/*")) == []
    assert list((workdir / ".git/objects/pack").glob("*.pack"))


def _blobs_in_folder_17(count: int) -> list[str]:
    found = []
    for i in itertools.count():
        text = f"{i}\n"
        if hashlib.sha1(f"blob {len(text)}\0{text}".encode()).hexdigest().startswith("17"):
            found.append(text)
            if len(found) == count:
                return found
    raise AssertionError("unreachable")
