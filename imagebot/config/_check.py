"""Schema errors as Problems a user can act on: the line of the field, what was expected, and for a
misspelling the closest known name ("did you mean `secretRef`?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

from imagebot.config.problems import Problem
from imagebot.config.schema import PATTERN_MEANINGS, validator

_TYPE_NAMES = {
    "string": "a string", "object": "a mapping", "array": "a list", "boolean": "true or false",
    "integer": "an integer", "number": "a number", "null": "nothing",
}


def closest(word: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The candidates nearest to `word`, case ignored (`secretref` -> `secretRef`)."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)]


def suggestion(word: str, candidates: Iterable[str]) -> str:
    match = closest(word, candidates)
    return f": did you mean `{match[0]}`?" if match else ""


def field_path(path: Sequence[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def line_of(node: Any, path: Sequence[Any], *, key: bool = True) -> int:
    """The 1-based line of the deepest part of `path` found under `node` (the key's line for a field)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, MappingNode):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if found is None:
                break
            line = (found[0] if key else found[1]).start_mark.line + 1
            node = found[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value:g} (a number)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"'{value}'" if len(str(value)) <= 80 else f"'{str(value)[:77]}...'"


def schema_problems(kind: str, doc: Any, node: Any, display: str, label: str) -> list[Problem]:
    """Every way `doc` breaks its kind's schema, in document order."""
    errors = sorted(validator(kind).iter_errors(doc), key=lambda e: line_of(node, list(e.absolute_path)))
    problems: list[Problem] = []
    for err in errors:
        problems.extend(_problems(err, node, display, label))
    # a misspelt required field is one mistake: its "required field ... is missing (`x` is set ...)" says it all
    typos = {(p.field, p.message.split("`")[3]) for p in problems if p.message.startswith("required field")
             and "is set: a misspelling" in p.message}
    return [p for p in problems if not (p.message.startswith("unknown field") and any(
        p.field == ".".join(filter(None, (parent, typo))) for parent, typo in typos))]


def _problems(err: ValidationError, node: Any, display: str, label: str) -> list[Problem]:
    path = list(err.absolute_path)
    schema, value = err.schema, err.instance
    where = field_path(path) or None

    def at(p: list[Any], message: str, *, key: bool = True) -> Problem:
        return Problem(display, line_of(node, p, key=key), label, field_path(p) or None, message)

    if err.validator == "additionalProperties" and isinstance(value, dict) and isinstance(schema, dict):
        known = list(schema.get("properties", {}))
        if not known:
            return [at(path, "unexpected fields: " + ", ".join(f"`{k}`" for k in value))]
        return [
            at([*path, extra], f"unknown field `{extra}`{suggestion(str(extra), known) or f' (known: {_list(known)})'}")
            for extra in value if extra not in known
        ]
    if err.validator == "required" and isinstance(value, dict):
        missing = _missing(err)
        known = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
        typo = [k for k in value if k not in known and closest(str(k), [missing])]
        hint = f" (`{typo[0]}` is set: a misspelling of it?)" if typo else ""
        return [at(path, f"required field `{missing}` is missing{hint}", key=True)]
    if err.validator == "enum":
        options = [str(o) for o in err.validator_value]
        near = closest(str(value), options) if isinstance(value, str) else []
        hint = f"did you mean `{near[0]}`? (expected one of {_list(options)})" if near else \
            f"expected one of {_list(options)}"
        return [at(path, f"got {_describe(value)}: {hint}", key=False)]
    if err.validator == "pattern":
        meaning = PATTERN_MEANINGS.get(str(err.validator_value), f"text matching {err.validator_value}")
        return [at(path, f"got {_describe(value)}: expected {meaning}", key=False)]
    if err.validator == "type":
        wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        expected = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        return [at(path, f"got {_describe(value)}: expected {expected}", key=False)]
    if err.validator in ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum"):
        return [at(path, f"got {_describe(value)}: {_bound(str(err.validator), err.validator_value)}", key=False)]
    return [Problem(display, line_of(node, path), label, where, err.message)]


def _missing(err: ValidationError) -> str:
    # "'name' is a required property"
    return err.message.split("'")[1] if err.message.count("'") >= 2 else str(err.validator_value[0])


def _bound(validator_name: str, limit: Any) -> str:
    return {
        "minLength": f"expected at least {limit} character(s)",
        "maxLength": f"expected at most {limit} characters",
        "minItems": f"expected at least {limit} item(s)",
        "maxItems": f"expected at most {limit} items",
        "minimum": f"expected at least {limit}",
        "maximum": f"expected at most {limit}",
    }[validator_name]


def _list(options: Sequence[str]) -> str:
    shown = ", ".join(options[:12])
    return shown + (f", ... ({len(options)} in all)" if len(options) > 12 else "")
