"""Fixtures of the update tests: the golden before/after trees in fixtures/update/."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagebot.update import PolicyValue

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "update"


@dataclass(frozen=True)
class GoldenCase:
    name: str
    before: Path
    after: Path
    values: dict[str, PolicyValue]
    default_namespace: str
    notes: list[tuple[str, int, str]]  # file, line, code
    changes: int
    kustomize: list[str]  # folders of the after tree that `kubectl kustomize` must build


def golden_cases() -> list[GoldenCase]:
    cases = []
    for folder in sorted(p for p in FIXTURES.iterdir() if (p / "case.json").is_file()):
        spec = json.loads((folder / "case.json").read_text())
        cases.append(
            GoldenCase(
                name=folder.name,
                before=folder / "before",
                after=folder / "after",
                values={k: PolicyValue(**v) for k, v in spec["values"].items()},
                default_namespace=spec["default_namespace"],
                notes=[tuple(n) for n in spec["notes"]],
                changes=spec["changes"],
                kustomize=spec.get("kustomize", []),
            )
        )
    return cases


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def copy_tree(tmp_path: Path):
    """Copy a fixture tree into a fresh temporary folder and return the copy's path."""

    def copy(source: Path) -> Path:
        target = tmp_path / "tree"
        shutil.copytree(source, target, symlinks=True)
        return target

    return copy
