"""Reading policy files: YAML documents -> Flux objects, with every problem located precisely.

Documents are composed into nodes (libyaml's parser when ruamel.yaml.clib is there: ten times
faster than the round-trip loader), bounded (file size, nesting, and the nodes that aliases and
merge keys expand to), checked against Flux's schema, and built into models; the nodes stay at
hand only to name the line of whatever field a problem is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from imagebot.config._check import closest, field_path, line_of, schema_problems, suggestion
from imagebot.config._limits import ConfigLimitError, bounded_documents, read_bounded
from imagebot.config.models import KINDS, FluxObject, Origin
from imagebot.config.problems import Problem

_SUFFIXES = (".yaml", ".yml")

# Every kind of Flux's API groups: a kind outside these in a Flux group is a misspelling.
FLUX_KINDS: dict[str, tuple[str, ...]] = {
    "image.toolkit.fluxcd.io": ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"),
    "source.toolkit.fluxcd.io": ("GitRepository", "HelmRepository", "HelmChart", "Bucket", "OCIRepository",
                                 "ExternalArtifact"),
    "notification.toolkit.fluxcd.io": ("Alert", "Provider", "Receiver"),
    "kustomize.toolkit.fluxcd.io": ("Kustomization",),
    "helm.toolkit.fluxcd.io": ("HelmRelease",),
    "source.extensions.fluxcd.io": ("ArtifactGenerator",),
}


@dataclass
class FileObjects:
    """What one file holds: its valid objects, its problems, and the objects that are invalid
    (kind, namespace/name), which still exist for the references that name them."""

    objects: list[FluxObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)


def config_files(path: Path) -> list[Path]:
    """The YAML files under `path` (or `path` itself), in a stable order."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if not path.is_dir():
        return [path]  # a FIFO or a device is refused when read, never waited on
    # Hidden entries below the folder are skipped: a mounted ConfigMap holds `..data/` and
    # timestamped copies beside the links to its files, and editors leave `.swp` files. Any other
    # *.yaml entry is read, so that one that is no plain file is reported rather than skipped.
    return sorted(
        p for p in path.rglob("*")
        if p.suffix in _SUFFIXES and not p.is_dir()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def read_objects(path: Path, display: str) -> FileObjects:
    """Every Flux object of a known kind in one file, the problems of the others."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    result = FileObjects()
    try:
        text = read_bounded(path).decode("utf-8-sig")
        documents = bounded_documents(text)
    except ConfigLimitError as err:
        result.problems.append(Problem(display, None, None, None, str(err)))
        return result
    except (OSError, UnicodeDecodeError) as err:
        result.problems.append(Problem(display, None, None, None, f"cannot be read: {err}"))
        return result
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        result.problems.append(Problem(display, line, None, None, f"not valid YAML: {err.problem or err}"))
        return result
    except YAMLError as err:
        result.problems.append(Problem(display, None, None, None, f"not valid YAML: {err}"))
        return result
    for data, node in documents:
        if data is not None:
            _read_document(data, node, display, result)
    return result


def _identity(doc: dict[str, Any]) -> tuple[str | None, str]:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    if not isinstance(name, str) or not name:
        return None, f"{doc.get('kind')}"
    return f"{namespace}/{name}", f"{doc.get('kind')} {namespace}/{name}"


def _read_document(doc: Any, node: Any, display: str, out: FileObjects) -> None:
    line = node.start_mark.line + 1
    if not isinstance(doc, dict):
        out.problems.append(Problem(display, line, None, None, "expected a mapping with apiVersion and kind", "note"))
        return
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    key, label = _identity(doc)
    problem = _kind_problem(kind, api_version, display, line, label)
    if problem is not None:
        out.problems.append(problem)
        if problem.level == "error" and key is not None and isinstance(kind, str):
            out.invalid.append((kind, key))
        return
    assert isinstance(kind, str)
    problems = schema_problems(kind, doc, node, display, label)
    if not problems:
        try:
            obj = KINDS[kind][2].model_validate(doc)
        except ValidationError as err:
            problems = [_locate(item, node, display, label) for item in err.errors()]
        else:
            out.objects.append(obj.model_copy(update={"origin": Origin(display, line)}))
            return
    out.problems.extend(problems)
    if key is not None:
        out.invalid.append((kind, key))


def _kind_problem(kind: Any, api_version: Any, display: str, line: int, label: str) -> Problem | None:
    """None for a kind imagebot reads in a version it supports; else an error or a note saying why not."""
    known = isinstance(kind, str) and kind in KINDS

    def problem(message: str, level: str = "error", fieldname: str | None = None) -> Problem:
        shown = label if known or level == "error" else None
        return Problem(display, line, shown, fieldname, message, level)  # type: ignore[arg-type]

    if not isinstance(kind, str) or not isinstance(api_version, str):
        if known:
            group, versions, _ = KINDS[kind]
            return problem(f"expected {group}/{versions[0]}", fieldname="apiVersion")
        if isinstance(api_version, str) and api_version.partition("/")[0] in FLUX_KINDS:
            return problem("expected the name of a kind, such as ImagePolicy", fieldname="kind")
        return problem("skipped: not a Kubernetes object (no apiVersion and kind)", "note")
    group, _, version = api_version.partition("/")
    if group in FLUX_KINDS:
        if kind not in FLUX_KINDS[group]:
            owner = next((g for g, ks in FLUX_KINDS.items() if kind in ks), None)
            if owner is not None:
                return problem(f"{kind} is in {owner}, not {group}: use apiVersion "
                               f"{owner}/{KINDS[kind][1][0] if kind in KINDS else 'v1'}", fieldname="apiVersion")
            hint = suggestion(kind, FLUX_KINDS[group]) or f" (its kinds: {', '.join(FLUX_KINDS[group])})"
            return problem(f"kind `{kind}` is no Flux kind of {group}{hint}", fieldname="kind")
        if kind not in KINDS:
            return problem(f"skipped: Flux kind {kind} is not one imagebot reads", "note")
    elif "fluxcd" in group or "toolkit" in group:
        near = closest(group, FLUX_KINDS)
        hint = f": did you mean `{near[0]}`?" if near else f" (Flux's groups: {', '.join(FLUX_KINDS)})"
        return problem(f"`{group}` is no Flux API group{hint}", fieldname="apiVersion")
    elif kind in KINDS:
        return problem(f"skipped: {api_version} {kind} is not a Flux object imagebot reads", "note")
    else:
        return problem(f"skipped: kind {kind!r} is not one imagebot reads", "note")
    expected_group, versions, _ = KINDS[kind]
    if version not in versions:
        accepted = ", ".join(f"{expected_group}/{v}" for v in versions)
        return problem(f"{api_version} is not supported: use {accepted}", fieldname="apiVersion")
    return None


def _locate(item: Any, node: Any, display: str, label: str) -> Problem:
    """The problem of one model error, at the line of the deepest field of its path that exists."""
    loc = [part for part in item["loc"] if not _is_union_tag(part)]
    line = line_of(node, loc)
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "missing" and loc:
        message = f"required field `{loc[-1]}` is missing"
        loc = loc[:-1]
    elif item["type"] == "literal_error":
        given = item.get("input")
        message = f"{message}, got " + (f"'{given}'" if isinstance(given, str) else repr(given))
    return Problem(display, line, label, field_path(loc) or None, message)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tag of a union member to the location (e.g. "function-after[...]")
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
