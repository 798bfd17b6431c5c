"""Every situation of the issue as a before/after tree: the output must equal the golden bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imagebot.update import PolicyValue, apply_updates, unified_diff
from tests.update.conftest import GoldenCase, golden_cases, tree_bytes

CASES = golden_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_update_writes_exactly_the_golden_tree(case: GoldenCase, copy_tree) -> None:
    root = copy_tree(case.before)

    result = apply_updates(root, case.values, default_namespace=case.default_namespace)

    assert tree_bytes(root) == tree_bytes(case.after)
    assert len(result.changes) == case.changes
    assert [(n.file, n.line, n.code) for n in result.notes] == case.notes
    assert result.ok == (not any(n.level == "error" for n in result.notes))
    for file in result.files:
        assert (root / file.path).read_bytes() == file.new
        assert (case.before / file.path).read_bytes() == file.old


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_dry_run_writes_nothing_and_its_diff_applies_with_git(case: GoldenCase, copy_tree) -> None:
    root = copy_tree(case.before)

    result = apply_updates(root, case.values, default_namespace=case.default_namespace, write=False)

    assert tree_bytes(root) == tree_bytes(case.before)
    patch = unified_diff(result)
    if not result.files:
        assert patch == ""
        return
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"], cwd=root, input=patch.encode(), check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull},
    )
    shutil.rmtree(root / ".git")
    assert tree_bytes(root) == tree_bytes(case.after)


KUSTOMIZE_CASES = [(c, folder) for c in CASES for folder in c.kustomize]


@pytest.mark.parametrize("case,folder", KUSTOMIZE_CASES, ids=[f"{c.name}/{f}" for c, f in KUSTOMIZE_CASES])
def test_edited_kustomization_still_builds(case: GoldenCase, folder: str) -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(case.after / folder)], capture_output=True, text=True, check=True
    ).stdout

    app = case.values["flux-system:app"]
    sidecar = case.values["flux-system:sidecar"]
    expected = {
        "": [f"- image: {app.image}:{app.tag}@{app.digest}", f"- image: sidecar:{sidecar.tag}"],
        "legacy": [f"- image: {app.image}:{app.tag}", "- image: sidecar"],
    }[folder]
    assert [line.strip() for line in built.splitlines() if "image:" in line] == expected


def test_golden_trees_cover_every_note_code() -> None:
    codes = {code for case in CASES for (_, _, code) in case.notes}
    assert codes >= {"invalid-yaml", "unknown-policy", "no-digest", "invalid-marker", "verify-failed",
                     "refused-value"}


def test_result_groups_changes_by_file_and_object(copy_tree) -> None:
    case = next(c for c in CASES if c.name == "layout")
    root = copy_tree(case.before)

    result = apply_updates(root, case.values, write=False)

    by_file = result.by_file()
    assert sorted(by_file) == ["list.yaml", "multi.yaml", "toplevel-sequence.yaml"]
    objects = {str(obj): len(changes) for obj, changes in result.by_object().items()}
    assert objects == {"Deployment apps/api": 3, "Deployment one": 1, "None": 2}
    [api] = [o for o in by_file["multi.yaml"] if o is not None]
    assert (api.api_version, api.kind, api.namespace, api.name) == ("apps/v1", "Deployment", "apps", "api")
    first = by_file["multi.yaml"][api][0]
    assert (first.old_value, first.new_value, first.setter, first.line) == (
        "ghcr.io/org/api:1.0", "ghcr.io/org/api:1.10", "flux-system:api", 22,
    )
    assert by_file["toplevel-sequence.yaml"] == {None: result.by_object()[None]}
    assert Path(root / "multi.yaml").read_bytes() == (case.before / "multi.yaml").read_bytes()


def test_a_marker_on_an_empty_value_is_reported_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_bytes(b'image:\n  tag: # {"$imagepolicy": "ns:app:tag"}\n  digest: &d # {"$imagepolicy": "ns:app"}\n')

    result = apply_updates(path, {"ns:app": PolicyValue("ghcr.io/org/app", "v2")})

    assert result.files == []
    assert [(n.line, n.code) for n in result.notes] == [(2, "invalid-marker"), (3, "invalid-marker")]
    assert 'write ""' in result.notes[0].message
