"""Which files are read and how they are written: real folders, links and modes on disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from imagebot.update import PolicyValue, apply_updates
from imagebot.update.files import Candidate, Skipped, atomic_write, candidates

MARKED = b'image: ghcr.io/org/app:v1 # {"$imagepolicy": "ns:app"}\n'
VALUES = {"ns:app": PolicyValue("ghcr.io/org/app", "v2")}


def write(path: Path, data: bytes = MARKED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_only_manifest_names_with_the_marker_bytes_are_read(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml")
    write(tmp_path / "sub" / "b.yml")
    write(tmp_path / "sub" / "Kustomization")
    write(tmp_path / "sub" / "kustomization")  # not a name Flux reads either
    write(tmp_path / "c.json")
    write(tmp_path / "README.md")
    write(tmp_path / ".git" / "d.yaml")
    write(tmp_path / "plain.yaml", b"image: ghcr.io/org/app:v1\n")

    found = [c.rel for c in candidates(tmp_path) if isinstance(c, Candidate)]

    assert found == ["a.yaml", "sub/Kustomization", "sub/b.yml"]


def test_links_inside_the_root_are_followed_once_and_outside_never(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(root / "apps" / "app.yaml")
    write(outside / "secret.yaml")
    (root / "alias.yaml").symlink_to(root / "apps" / "app.yaml")
    (root / "apps-again").symlink_to(root / "apps")
    (root / "loop").symlink_to(root)
    (root / "out.yaml").symlink_to(outside / "secret.yaml")
    (root / "out-dir").symlink_to(outside)
    (root / "dangling.yaml").symlink_to(tmp_path / "missing.yaml")

    result = apply_updates(root, VALUES)

    assert [f.path for f in result.files] == ["apps/app.yaml"]
    assert (outside / "secret.yaml").read_bytes() == MARKED
    assert (root / "alias.yaml").is_symlink() and (root / "out.yaml").is_symlink()
    assert {(n.file, n.code) for n in result.notes} == {
        ("out.yaml", "symlink-outside"), ("out-dir", "symlink-outside"), ("dangling.yaml", "symlink-outside"),
    }
    assert b"v2" in (root / "apps" / "app.yaml").read_bytes()


def test_a_single_file_is_a_root(tmp_path: Path) -> None:
    path = write(tmp_path / "one.yaml")

    result = apply_updates(path, VALUES)

    assert [f.path for f in result.files] == ["one.yaml"]
    assert path.read_bytes() == MARKED.replace(b"v1", b"v2")


def test_writes_keep_the_mode_and_leave_no_temporary_file(tmp_path: Path) -> None:
    path = write(tmp_path / "app.yaml")
    os.chmod(path, 0o640)
    inode = path.stat().st_ino

    atomic_write(path, b"new: bytes\n")

    assert path.read_bytes() == b"new: bytes\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.yaml"]


def test_a_file_that_cannot_be_written_is_reported_and_others_still_update(tmp_path: Path) -> None:
    # A file size limit makes the write of the big file fail with EFBIG, even for root.
    big = write(tmp_path / "big" / "app.yaml", b"# " + b"x" * 8000 + b"\n" + MARKED)
    small = write(tmp_path / "small" / "app.yaml")
    script = (
        "import json, resource, signal, sys\n"
        "from imagebot.update import PolicyValue, apply_updates\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "r = apply_updates(sys.argv[1], {'ns:app': PolicyValue('ghcr.io/org/app', 'v2')})\n"
        "print(json.dumps([[f.path for f in r.files], [[n.file, n.code, n.level] for n in r.notes], r.ok]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout

    files, notes, ok = json.loads(out)
    assert files == ["small/app.yaml"]
    assert notes == [["big/app.yaml", "write-failed", "error"]]
    assert ok is False
    assert big.read_bytes().endswith(MARKED) and b"v2" in small.read_bytes()
    assert sorted(p.name for p in big.parent.iterdir()) == ["app.yaml"]  # the temporary file is gone


def test_non_utf8_files_are_skipped_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.yaml", "# caf\u00e9\n".encode("latin-1") + MARKED)

    result = apply_updates(tmp_path, VALUES)

    assert result.files == []
    assert [(n.file, n.code) for n in result.notes] == [("latin1.yaml", "not-utf8")]
    assert path.read_bytes() == "# caf\u00e9\n".encode("latin-1") + MARKED


def test_skipped_entries_are_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "x.yaml").symlink_to("/etc/hostname")

    items = list(candidates(tmp_path / "root"))

    assert items == [Skipped("x.yaml", "symbolic link leads outside the update path")]


def test_a_missing_root_is_an_error_not_an_empty_result(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        apply_updates(tmp_path / "missing", VALUES)
