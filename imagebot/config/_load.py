"""Reading policy files: YAML documents -> Flux objects, with every problem located precisely."""

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


def read_objects(path: Path, display: str) -> tuple[list[FluxObject], list[Problem]]:
    """Every Flux object of a known kind in one file, and the problems of the others."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    objects: list[FluxObject] = []
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        return [], [Problem(display, None, None, None, f"cannot be read: {err}")]
    yaml = YAML(typ="rt")
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        return [], [Problem(display, line, None, None, f"not valid YAML: {err.problem or err}")]
    for doc in documents:
        if doc is None:
            continue
        obj, problem = _read_document(doc, display)
        if obj is not None:
            objects.append(obj)
        if problem is not None:
            problems.extend(problem)
    return objects, problems


def _read_document(doc: Any, display: str) -> tuple[FluxObject | None, list[Problem] | None]:
    line = _line(doc)
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
        obj = model.model_validate(_plain(doc))
    except ValidationError as err:
        return None, [_locate(err_item, doc, display, label) for err_item in err.errors()]
    return obj.model_copy(update={"origin": Origin(display, line or 1)}), None


def _locate(item: Any, doc: Any, display: str, label: str) -> Problem:
    loc = [part for part in item["loc"] if not _is_union_tag(part)]
    node, line = doc, _line(doc)
    for part in loc:
        try:
            if isinstance(node, dict) and part in node:
                line = _key_line(node, part) or line
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                line = _item_line(node, part) or line
                node = node[part]
            else:
                break
        except (TypeError, KeyError):
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


def _line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def _key_line(node: Any, key: Any) -> int | None:
    try:
        return node.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _item_line(node: Any, index: int) -> int | None:
    try:
        return node.lc.item(index)[0] + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers and scalars as plain Python values."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node
