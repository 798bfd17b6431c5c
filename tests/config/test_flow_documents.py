"""Documents libyaml refuses (YAML 1.2's `host:5000/x` in a flow mapping) are parsed again one by one, by
the pure parser; the rest of the file stays libyaml's. Lines and errors are those of the whole file."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, SequenceNode

from imagebot.config import load_config
from imagebot.config._limits import _composed, bounded_documents

BLOCK = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: block{i}
  namespace: team
spec:
  image: ghcr.io/acme/block{i}
  interval: 5m
"""
FLOW = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: flow{i}, namespace: team}}
spec: {{image: localhost:5000/team/flow{i}, interval: 5m, insecure: true}}
"""


def shape(node: Any) -> Any:
    """Everything a node says, its marks' lines, columns and indexes included."""
    where = (node.start_mark.line, node.start_mark.column, node.start_mark.index, node.end_mark.line,
             node.end_mark.column, node.end_mark.index)
    if isinstance(node, MappingNode):
        return (node.tag, where, [(shape(k), shape(v)) for k, v in node.value])
    if isinstance(node, SequenceNode):
        return (node.tag, where, [shape(v) for v in node.value])
    return (node.tag, node.value, where)


def whole_file_pure(text: str) -> list[Any]:
    return [shape(n) for n in YAML(typ="safe", pure=True).compose_all(text) if n is not None]


def per_document(text: str) -> list[Any]:
    return [shape(n) for n in _composed(text, YAML(typ="safe", pure=False), YAML(typ="safe", pure=True))]


TEXTS = [
    "---\n".join([BLOCK.format(i=0), FLOW.format(i=1), BLOCK.format(i=2)]),
    FLOW.format(i=0) + "...\n# between\n---\n" + BLOCK.format(i=1) + "--- # a comment\n" + FLOW.format(i=2),
    "# leading comment\n---\n---\n" + FLOW.format(i=0) + "---\n" + "a: &x {b: c:1}\nd: *x\n",
    BLOCK.format(i=0) + "notes: |\n  ---not a marker\n   --- nor this\n---\n" + FLOW.format(i=1) + "---\n",
    "--- {a: b:1}\n--- [1, x:2]\n---\nplain: doc\n",
    "\ufeff" + FLOW.format(i=0) + "---\r\n" + BLOCK.format(i=1).replace("\n", "\r\n"),
]


@pytest.mark.parametrize("text", TEXTS)
def test_per_document_parsing_gives_the_whole_file_s_nodes(text: str) -> None:
    with pytest.raises(MarkedYAMLError):
        list(YAML(typ="safe", pure=False).compose_all(text))  # libyaml refuses the text: the fallback runs
    assert per_document(text) == whole_file_pure(text)


def test_an_error_in_a_later_document_names_its_line_in_the_file(tmp_path: Path) -> None:
    text = "---\n".join([FLOW.format(i=0), BLOCK.format(i=1), FLOW.format(i=2).replace("5m", "soon")])
    (tmp_path / "mixed.yaml").write_text(text)
    loaded = load_config(tmp_path)
    [error] = loaded.errors
    assert error.line == 18 and error.field == "spec.interval", error  # 4 + 1 + 8 + 1 + 4 lines
    assert [r.key for r in loaded.config.repositories] == ["team/flow0", "team/block1"]


def test_invalid_yaml_after_a_flow_document_is_reported_at_its_line(tmp_path: Path) -> None:
    text = FLOW.format(i=0) + "---\n" + BLOCK.format(i=1) + "---\nkey: [unclosed, x:1\nother: 2\n"
    (tmp_path / "bad.yaml").write_text(text)
    [error] = load_config(tmp_path).errors
    assert "not valid YAML" in error.message
    with pytest.raises(MarkedYAMLError) as whole:
        list(YAML(typ="safe", pure=True).compose_all(text))
    assert error.line == (whole.value.problem_mark or whole.value.context_mark).line + 1


def test_directives_send_the_whole_file_to_the_pure_parser() -> None:
    text = "%YAML 1.2\n---\n" + FLOW.format(i=0) + "---\n" + BLOCK.format(i=1)
    assert [data["metadata"]["name"] for data, _ in bounded_documents(text)] == ["flow0", "block1"]


def test_the_lines_of_fields_in_a_reparsed_document_are_the_file_s(tmp_path: Path) -> None:
    docs = [BLOCK.format(i=i) for i in range(5)] + [textwrap.dedent("""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {name: p, namespace: team}
        spec: {imageRepositoryRef: {name: flow9}, policy: {semver: {range: ">=1"}}}
        """), FLOW.format(i=9).replace("interval: 5m", "interval: 5m, unknown: x:1")]
    (tmp_path / "many.yaml").write_text("---\n".join(docs))
    [error] = [e for e in load_config(tmp_path).errors if e.field == "spec.unknown"]
    assert error.line == 5 * (8 + 1) + (4 + 1) + 4, error  # five block documents, the policy, then spec
