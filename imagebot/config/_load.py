"""Reading policy files: YAML documents -> Flux objects, with every problem located precisely.

Documents are composed into nodes (libyaml's parser when ruamel.yaml.clib is there: ten times
faster than the round-trip loader) and built into plain data; the nodes stay at hand only to name
the line of whatever field a problem is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from imagebot.config.models import KINDS, FluxObject, Origin
from imagebot.config.problems import Problem

_SUFFIXES = (".yaml", ".yml")


def config_files(path: Path) -> list[Path]:
    """The YAML files under `path` (or `path` itself), in a stable order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    # Hidden entries below the folder are skipped: a mounted ConfigMap holds `..data/` and
    # timestamped copies beside the links to its files, and editors leave `.swp` files.
    return sorted(
        p for p in path.rglob("*")
        if p.suffix in _SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def _documents(text: str) -> list[tuple[Any, Any]]:
    """(data, node) of each document; libyaml first, the pure parser for what libyaml refuses
    (YAML 1.2 allows `host:5000/x` as a plain scalar in a flow mapping, libyaml does not)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    last: YAMLError | None = None
    for pure in (False, True):
        yaml = YAML(typ="safe", pure=pure)
        try:
            nodes = [n for n in yaml.compose_all(text) if n is not None]
            return [(yaml.constructor.construct_document(n), n) for n in nodes]
        except YAMLError as err:
            last = err
    assert last is not None
    raise last


def read_objects(path: Path, display: str) -> tuple[list[FluxObject], list[Problem]]:
    """Every Flux object of a known kind in one file, and the problems of the others."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    objects: list[FluxObject] = []
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        return [], [Problem(display, None, None, None, f"cannot be read: {err}")]
    try:
        documents = _documents(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        return [], [Problem(display, line, None, None, f"not valid YAML: {err.problem or err}")]
    except YAMLError as err:
        return [], [Problem(display, None, None, None, f"not valid YAML: {err}")]
    for data, node in documents:
        if data is None:
            continue
        obj, problem = _read_document(data, node, display)
        if obj is not None:
            objects.append(obj)
        if problem is not None:
            problems.extend(problem)
    return objects, problems


def _read_document(doc: Any, node: Any, display: str) -> tuple[FluxObject | None, list[Problem] | None]:
    line = node.start_mark.line + 1
    if not isinstance(doc, dict):
        return None, [Problem(display, line, None, None, "expected a mapping with apiVersion and kind", "note")]
    kind = doc.get("kind")
    api_version = doc.get("apiVersion")
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = meta.get("name")
    label = f"{kind} {meta.get('namespace') or 'default'}/{name}" if name else str(kind)
    if kind not in KINDS:
        return None, [Problem(display, line, None, None, f"skipped: kind {kind!r} is not one imagebot reads", "note")]
    group, versions, model = KINDS[kind]
    if not isinstance(api_version, str) or "/" not in api_version:
        return None, [Problem(display, line, label, "apiVersion", f"expected {group}/{versions[0]}")]
    got_group, _, got_version = api_version.partition("/")
    if got_group != group:
        note = f"skipped: {api_version} {kind} is not a Flux object imagebot reads"
        return None, [Problem(display, line, label, "apiVersion", note, "note")]
    if got_version not in versions:
        accepted = ", ".join(f"{group}/{v}" for v in versions)
        return None, [Problem(display, line, label, "apiVersion", f"{api_version} is not supported: use {accepted}")]
    try:
        obj = model.model_validate(doc)
    except ValidationError as err:
        return None, [_locate(item, node, display, label) for item in err.errors()]
    return obj.model_copy(update={"origin": Origin(display, line)}), None


def _locate(item: Any, node: Any, display: str, label: str) -> Problem:
    """The problem of one validation error, at the line of the deepest field of its path that exists."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    loc = [part for part in item["loc"] if not _is_union_tag(part)]
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "missing":
        message = "required field is missing"
    elif item["type"] == "literal_error":
        message = f"{message}, got {item.get('input')!r}"
    return Problem(display, line, label, field or None, message)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tag of a union member to the location (e.g. "function-after[...]")
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
