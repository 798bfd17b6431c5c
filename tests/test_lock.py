"""The lock files: made from pyproject.toml's dependency lists, and refused once those change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(folder / "scripts" / "lock"), "--check"], capture_output=True,
                          text=True, timeout=60)


def test_locks_match_pyproject_and_a_changed_dependency_is_refused_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lock", tmp_path / "scripts" / "lock")
    for name in ("pyproject.toml", "requirements.lock", "requirements-test.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    assert check(tmp_path).returncode == 0

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"semver>=3,<4"', '"semver>=3.1,<4"'))
    refused = check(tmp_path)
    assert refused.returncode == 1
    assert "requirements-test.lock, requirements.lock do not match pyproject.toml's dependencies" in refused.stderr
    assert "run scripts/lock" in refused.stderr


def test_every_locked_requirement_is_pinned_with_hashes() -> None:
    for name in ("requirements.lock", "requirements-test.lock"):
        entries = [e for e in ROOT.joinpath(name).read_text().split("\n") if e and not e.startswith((" ", "#"))]
        assert entries, name
        for entry in entries:
            assert "==" in entry and entry.endswith("\\"), (name, entry)  # hashes follow on the next lines
    runtime = ROOT.joinpath("requirements.lock").read_text()
    test = ROOT.joinpath("requirements-test.lock").read_text()
    pins = {line.split(" ")[0] for line in runtime.splitlines() if "==" in line and not line.startswith((" ", "#"))}
    assert pins <= set(test.split()), "the image's versions are the ones CI tests"
