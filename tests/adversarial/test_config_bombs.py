"""Hostile policy files: YAML merge-key and alias bombs, deep nesting, oversized files, FIFOs.

Each is refused with an error naming the file and the limit, in bounded memory; before the limits a
1 KB file of nested `<<` merges ran `validate` for minutes and gigabytes.
"""

from __future__ import annotations

import os
import textwrap
import threading
from pathlib import Path

import pytest

from imagebot.config import load_config
from imagebot.config._limits import MAX_CONFIG_BYTES, MAX_NODES
from tests.adversarial._bounded_cli import run_bounded

REPO = textwrap.dedent("""\
    apiVersion: image.toolkit.fluxcd.io/v1
    kind: ImageRepository
    metadata: {name: app}
    spec: {image: ghcr.io/acme/app, interval: 5m}
    """)


def merge_bomb(levels: int = 25) -> str:
    """Each level merges the previous one three times: 3**levels nodes from about 1 KB."""
    lines = ["a0: &a0 {k0: v}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}, *a{i - 1}], k{i}: v}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 12) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_a_one_kilobyte_merge_key_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(merge_bomb())
    assert bomb.stat().st_size < 1100
    result = run_bounded("validate", "-c", str(bomb))
    assert result.returncode == 1, result.stderr
    assert f"error: {bomb}: aliases and merge keys (<<) expand to more than {MAX_NODES:,} nodes" in result.stderr
    assert result.maxrss_mb < 300, result.maxrss_mb


def test_a_billion_laughs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "laughs.yaml").write_text(alias_bomb())
    [error] = load_config(tmp_path).errors
    assert error.file.endswith("laughs.yaml") and "expand to more than" in error.message


def test_a_bomb_inside_an_object_is_refused_and_the_other_files_still_load(tmp_path: Path) -> None:
    (tmp_path / "a-repo.yaml").write_text(REPO)
    hidden = ("apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: other\n"
              "  annotations:\n" + textwrap.indent(merge_bomb(), "    ")
              + "spec: {image: ghcr.io/acme/other, interval: 5m}\n")
    (tmp_path / "b-bomb.yaml").write_text(hidden)
    loaded = load_config(tmp_path)
    assert [r.key for r in loaded.config.repositories] == ["default/app"]
    [error] = loaded.errors
    assert error.file.endswith("b-bomb.yaml") and "expand to more than" in error.message


def test_anchors_and_merges_of_ordinary_size_still_load(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text(textwrap.dedent("""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata:
          name: app
          labels: &labels {team: web, tier: front}
          annotations:
            <<: *labels
            owner: web-team
        spec: {image: ghcr.io/acme/app, interval: 5m}
        """))
    loaded = load_config(tmp_path)
    assert loaded.errors == []
    [repo] = loaded.config.repositories
    assert repo.metadata.annotations == {"team": "web", "tier": "front", "owner": "web-team"}


@pytest.mark.parametrize("text", ["x: " + "[" * 5000 + "]" * 5000, "x:\n" + "".join(
    " " * i + "- \n" for i in range(0, 400, 2)) + " " * 400 + "- leaf\n"])
def test_deep_nesting_is_refused_naming_the_limit(tmp_path: Path, text: str) -> None:
    (tmp_path / "deep.yaml").write_text(text)
    [error] = load_config(tmp_path).errors
    assert error.file.endswith("deep.yaml")
    assert "nested deeper than 100 levels" in error.message or "not valid YAML" in error.message


def test_a_fifty_megabyte_config_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as handle:
        handle.write(REPO)
        for i in range(51 * 1024):
            handle.write(f"# {i:08d} " + "x" * 1010 + "\n")
    assert big.stat().st_size > 50 * 1024 * 1024
    result = run_bounded("validate", "-c", str(tmp_path))
    assert result.returncode == 1
    assert f"error: {big}: " in result.stderr
    assert f"over the limit of {MAX_CONFIG_BYTES // 1024 // 1024} MiB for a policy file" in result.stderr
    assert result.maxrss_mb < 200, result.maxrss_mb  # 2.8 GB before the limit


def test_a_fifo_among_the_policy_files_is_refused_not_waited_on(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(REPO)
    os.mkfifo(tmp_path / "pipe.yaml")
    found: list = []
    reader = threading.Thread(target=lambda: found.append(load_config(tmp_path)), daemon=True)
    reader.start()
    reader.join(30)
    if reader.is_alive():  # free the reader so that the test run can end, then fail
        with open(tmp_path / "pipe.yaml", "w"):
            pass
        pytest.fail("load_config waited on a FIFO")
    [loaded] = found
    [error] = loaded.errors
    assert error.file.endswith("pipe.yaml") and "not a regular file" in error.message
    assert [r.key for r in loaded.config.repositories] == ["default/app"]


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_a_million_nested_flow_collections_are_refused_not_a_crash(tmp_path: Path, opener: str) -> None:
    # libyaml's composer recurses in C: this 2 MB file overflowed its stack (exit -11, a segfault)
    closer = "]" if opener == "[" else "}"
    deep = tmp_path / "deep.yaml"
    deep.write_text("x: " + opener * 1_000_000 + "1" + closer * 1_000_000 + "\n")
    result = run_bounded("validate", "-c", str(deep))
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    assert f"error: {deep}: nested deeper than 100 levels" in result.stderr
