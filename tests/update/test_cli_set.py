"""`imagebot set`, run through the real command-line entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imagebot.cli import main
from tests.update.conftest import FIXTURES, tree_bytes

DIGEST = "sha256:" + "4" * 64


@pytest.fixture
def repo(copy_tree) -> Path:
    return copy_tree(FIXTURES / "manifests" / "before")


def test_set_writes_the_values_and_prints_the_changed_files(repo: Path, capsys) -> None:
    code = main(["set", str(repo), "flux-system:web=ghcr.io/org/web:1.1.0", "-n", "flux-system"])

    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines() == [(repo / "apps/deployment.yaml").as_posix()]
    text = (repo / "apps/deployment.yaml").read_text()
    assert text.count("ghcr.io/org/web:1.1.0") == 2 and "ghcr.io/org/web:1.0.0" not in text
    assert "markers for other policies left alone: flux-system:nginx, flux-system:report" in err


def test_dry_run_prints_a_diff_and_writes_nothing(repo: Path, capsys) -> None:
    before = tree_bytes(repo)

    code = main(["set", str(repo), f"flux-system:nginx=docker.io/library/nginx:1.27.0@{DIGEST}", "--dry-run"])

    out, _ = capsys.readouterr()
    assert code == 0
    assert tree_bytes(repo) == before
    assert out.startswith("diff --git a/apps/deployment.yaml b/apps/deployment.yaml\n")
    assert f"+        image: docker.io/library/nginx:1.27.0@{DIGEST} ##" in out
    assert "-        image: docker.io/library/nginx:1.25.3 ##" in out


def test_a_name_without_namespace_uses_the_namespace_option(repo: Path, capsys) -> None:
    code = main(["set", str(repo / "apps" / "cronjob.yml"), "report=ghcr.io/org/report:2.0.0", "-n", "flux-system"])

    out, _ = capsys.readouterr()
    assert code == 0
    assert out.splitlines() == [(repo / "apps" / "cronjob.yml").as_posix()]
    text = (repo / "apps" / "cronjob.yml").read_text()
    assert 'value: "2.0.0" # {"$imagepolicy": "flux-system:report:tag"}' in text
    assert "image: ghcr.io/org/report:2.0.0   # " in text


@pytest.mark.parametrize(
    "value", ["flux-system:web=ghcr.io/org/web:bad tag", "flux-system:web=ghcr.io/Org/x:1", "flux-system:web=x@md5:1"]
)
def test_a_refused_value_exits_1_and_writes_nothing(repo: Path, value: str, capsys) -> None:
    before = tree_bytes(repo)

    code = main(["set", str(repo), value])

    _, err = capsys.readouterr()
    assert code == 1
    assert "refused flux-system:web" in err
    assert tree_bytes(repo) == before


@pytest.mark.parametrize("args", [["flux-system:web"], ["=ghcr.io/x:1"], ["a:b:c=ghcr.io/x:1"]])
def test_bad_usage_exits_2(repo: Path, args: list[str], capsys) -> None:
    assert main(["set", str(repo), *args]) == 2
    assert "expected NS:NAME=IMAGE" in capsys.readouterr().err


def test_a_missing_path_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["set", str(tmp_path / "nope"), "a:b=ghcr.io/x:1"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_a_file_that_fails_verification_exits_1(copy_tree, capsys) -> None:
    repo = copy_tree(FIXTURES / "problems" / "before")

    code = main(["set", str(repo), "flux-system:app=ghcr.io/org/app:v2"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == [(repo / "markers.yaml").as_posix()]
    assert "typed.yaml: error: left untouched: the value has the explicit tag" in err
    assert "chart/templates/deployment.yaml:12: warning: skipped, never changed: not valid YAML" in err


def test_the_command_module_imports_no_yaml_library_until_it_runs() -> None:
    probe = "import sys, imagebot.cli.set; print('ruamel.yaml' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.strip() == "False"
