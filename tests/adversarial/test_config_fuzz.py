"""Property-based fuzzing of config loading: whatever the bytes, the answer is a list of Problems
naming the file, never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagebot.config import Problem, load_config

VALID = (Path(__file__).resolve().parents[2] / "fixtures" / "bad-configs" / "_valid" / "config" / "config.yaml")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_text(data: bytes) -> list[Problem]:
    with tempfile.TemporaryDirectory(prefix="ib-fuzz-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(data)
        loaded = load_config(Path(tmp))
        for problem in loaded.problems:
            assert isinstance(problem, Problem)
            assert problem.message and problem.level in ("error", "note")
            assert problem.file in (str(path), tmp)
            assert "Traceback" not in problem.message
        return loaded.problems


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    load_text(data)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("{}[]:,-&*!|>'\"#%@`?<= \n\tabc01.\\")), max_size=400))
def test_yaml_punctuation_soup(text: str) -> None:
    load_text(text.encode())


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 20), st.text(max_size=12)), max_size=6))
def test_mutations_of_a_valid_config(edits: list[tuple[int, int, str]]) -> None:
    text = VALID.read_text()
    for position, cut, insert in edits:
        position %= len(text) + 1
        text = text[:position] + insert + text[position + cut:]
    load_text(text.encode())


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)
KINDS = ["ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "GitRepository", "Receiver", "Provider",
         "Alert", "ImagePolicyy", "Kustomization", ""]
GROUPS = ["image.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1", "notification.toolkit.fluxcd.io/v1beta3",
          "notification.toolkit.fluxcd.io/v1", "image.toolkit.fluxcd.io/v1beta2", "apps/v1", "v1", "x/y/z"]


@SETTINGS
@given(st.sampled_from(KINDS), st.sampled_from(GROUPS), values, values)
def test_arbitrary_objects_of_every_kind(kind: str, api_version: str, metadata: Any, spec: Any) -> None:
    document = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}
    load_text(json.dumps(document).encode())  # JSON is YAML


@SETTINGS
@given(values, values, values)
def test_arbitrary_kinds_and_api_versions(kind: Any, api_version: Any, metadata: Any) -> None:
    # found by hand once: `kind: [ImagePolicy]` raised TypeError (a list is no dictionary key)
    document = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    load_text(json.dumps(document).encode())
    load_text(json.dumps({**document, "kind": ["ImagePolicy"]}).encode())


@SETTINGS
@given(st.sampled_from(KINDS[:7]), values, st.lists(st.text(max_size=10), min_size=1, max_size=4))
def test_a_valid_object_with_one_field_replaced(kind: str, value: Any, path: list[str]) -> None:
    from ruamel.yaml import YAML

    documents = list(YAML(typ="safe").load_all(VALID.read_text()))
    document = next(d for d in documents if d["kind"] == kind)
    node = document
    for part in path[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    load_text("\n---\n".join(json.dumps(d) for d in documents).encode())


HEAD = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\n"


def test_yaml_types_json_does_not_have() -> None:
    # complex keys, binary, timestamps, sets, non-string keys, a list for a kind: each a Problem
    for text in [
        HEAD + "metadata: {name: {a: b}}\nspec: {? [a] : b}\n",
        HEAD + "metadata: {name: 2001-12-14, 5: x}\nspec: {image: !!binary aGVsbG8=, interval: 2001-12-14t21:59:43Z}\n",
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: [ImagePolicy]\nmetadata: x\n",
        "--- !!set {a, b}\n",
        HEAD + "metadata: {name: a}\nspec: {image: ghcr.io/a, interval: 5m, 1.5: .nan, exclusionList: [1, null]}\n",
    ]:
        assert any(p.level == "error" for p in load_text(text.encode())) or "!!set" in text
