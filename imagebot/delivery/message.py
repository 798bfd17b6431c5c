"""Commit messages: Jinja2 over the data Flux gives its Go templates, and a default that names every change.

Template data (names as in Flux, so a ported template reads the same):
    AutomationObject.Namespace / .Name
    Changed.FileChanges   {file: {object: [change, ...]}}
    Changed.Objects       {object: [change, ...]}
    Changed.Changes       [change, ...]   each .OldValue, .NewValue, .Setter, and .Release (extension,
                          false unless the image carries OCI source labels): .Source, .Compare,
                          .Version, .Revision, .OldRevision, .URL, .Notes (None, or .Title, .Text, .URL)
    Values                git.commit.messageTemplateValues
An object has .Kind, .Namespace, .Name, .APIVersion and prints as `Kind/namespace/name`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from imagebot.release.model import NO_RELEASE

if TYPE_CHECKING:
    from imagebot.release import Release

SUBJECT_WIDTH = 72


@dataclass(frozen=True)
class ChangeRecord:
    """One value changed in one file: the input to messages (independent of the updater's classes)."""

    file: str
    kind: str
    namespace: str
    name: str
    old: str
    new: str
    setter: str
    api_version: str = ""
    release: Release | None = None


@dataclass(frozen=True)
class AutomationObject:
    Namespace: str
    Name: str

    def __str__(self) -> str:
        # Flux's AutomationObject is a types.NamespacedName: `{{ .AutomationObject }}` prints namespace/name
        return f"{self.Namespace}/{self.Name}"


@dataclass(frozen=True)
class ObjectIdentifier:
    Kind: str
    Namespace: str
    Name: str
    APIVersion: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.Kind, self.Namespace, self.Name) if p)


@dataclass(frozen=True)
class Change:
    OldValue: str
    NewValue: str
    Setter: str
    # extension: the new image's source, compare link and release notes; false when unknown
    Release: Release = field(default_factory=lambda: NO_RELEASE)

    def __str__(self) -> str:
        return f"{self.OldValue} -> {self.NewValue}"


@dataclass(frozen=True)
class Changed:
    FileChanges: dict[str, dict[ObjectIdentifier, list[Change]]]
    Objects: dict[ObjectIdentifier, list[Change]]
    Changes: list[Change]


@dataclass(frozen=True)
class TemplateData:
    AutomationObject: AutomationObject
    Changed: Changed
    Values: dict[str, str] = field(default_factory=dict)

    def as_context(self) -> dict[str, Any]:
        return {"AutomationObject": self.AutomationObject, "Changed": self.Changed, "Values": self.Values}


class MessageTemplateError(ValueError):
    """A message template that cannot be rendered; the text says what to change."""


def template_data(
    changes: Sequence[ChangeRecord], automation: AutomationObject, values: Mapping[str, str] | None = None
) -> TemplateData:
    """Flux's template data for `changes`, in file order then change order."""
    by_file: dict[str, dict[ObjectIdentifier, list[Change]]] = {}
    by_object: dict[ObjectIdentifier, list[Change]] = {}
    flat: list[Change] = []
    for rec in changes:
        obj = ObjectIdentifier(rec.kind, rec.namespace, rec.name, rec.api_version)
        change = Change(rec.old, rec.new, rec.setter, rec.release or NO_RELEASE)
        by_file.setdefault(rec.file, {}).setdefault(obj, []).append(change)
        by_object.setdefault(obj, []).append(change)
        flat.append(change)
    return TemplateData(automation, Changed(by_file, by_object, flat), dict(values or {}))


_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)


def render_template(template: str, data: TemplateData, *, what: str = "git.commit.messageTemplate") -> str:
    """Render a Jinja2 template (commit message, PR title or body) over `data`."""
    go = go_syntax(template)
    if go is not None:
        raise MessageTemplateError(
            f"{what} is written in Go template syntax ({go!r}); imagebot renders Jinja2. "
            f"The Jinja2 equivalent is:\n{go_to_jinja(template)}"
        )
    try:
        return _ENV.from_string(template).render(data.as_context())
    except jinja2.TemplateSyntaxError as exc:
        raise MessageTemplateError(f"{what}: line {exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        hint = (" (a change's Release, and its .Notes, are empty when the image names no source or its forge "
                "has no notes: guard them, e.g. {% if c.Release.Notes %}...{% endif %})"
                if "'None' has no attribute" in (exc.message or "") else "")
        raise MessageTemplateError(
            f"{what}: {exc.message}{hint}. Available: AutomationObject.Namespace/.Name, Changed.FileChanges, "
            "Changed.Objects, Changed.Changes (each .OldValue, .NewValue, .Setter, .Release), Values.<key>"
        ) from exc
    except jinja2.TemplateError as exc:
        raise MessageTemplateError(f"{what}: {exc}") from exc


def render_message(
    changes: Sequence[ChangeRecord],
    automation: AutomationObject,
    *,
    template: str | None = None,
    values: Mapping[str, str] | None = None,
) -> str:
    """The commit message: `template` rendered with Jinja2, or the default when it is None or empty."""
    if not template:
        return default_message(changes)
    return render_template(template, template_data(changes, automation, values))


# -- the default message ---------------------------------------------------------------------------

def _short(rec: ChangeRecord) -> tuple[str, str, str]:
    """(label, old, new) for a subject line: `app 1.2.3 -> 1.3.0` rather than two full references."""
    old_repo, old_ver = _split_ref(rec.old)
    new_repo, new_ver = _split_ref(rec.new)
    if old_repo and old_repo == new_repo:
        return old_repo.rsplit("/", 1)[-1], old_ver, new_ver
    parts = rec.setter.split(":")
    label = parts[1] if len(parts) > 1 else parts[0]
    return label, _abbrev(rec.old), _abbrev(rec.new)


def _split_ref(value: str) -> tuple[str, str]:
    if "@" in value:
        repo, _, digest = value.partition("@")
        return repo, _abbrev(digest)
    head, sep, tag = value.rpartition(":")
    if sep and "/" not in tag and head:
        return head, tag
    return "", value


def _abbrev(value: str) -> str:
    if value.startswith("sha256:") and len(value) > 19:
        return value[:19]
    return value


def _pluralise(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def default_message(changes: Sequence[ChangeRecord]) -> str:
    """Subject `Update 3 images in apps/: app 1.2.3 -> 1.3.0, ...`, then every change grouped by file."""
    entries: list[str] = []
    images: set[str] = set()
    for rec in changes:
        label, old, new = _short(rec)
        entry = f"{label} {old} -> {new}"
        if entry not in entries:
            entries.append(entry)
        # an image is its policy (the setter's NS:NAME), however many files and fields it changes
        images.add(":".join(rec.setter.split(":")[:2]) if rec.setter else label)
    dirs = {posixpath.dirname(rec.file) for rec in changes}
    common = posixpath.commonpath(list(dirs)) if dirs and all(d for d in dirs) else ""
    subject = f"Update {_pluralise(len(images), 'image')}" + (f" in {common}/" if common else "")
    subject = _fit_subject(subject, entries)
    data = template_data(changes, AutomationObject("", ""))
    lines = [subject, ""]
    for file, objects in data.Changed.FileChanges.items():
        lines.append(file)
        for obj, obj_changes in objects.items():
            where = f"{obj.Kind} {obj.Namespace + '/' if obj.Namespace else ''}{obj.Name}".strip()
            for ch in obj_changes:
                by = f" ({ch.Setter})" if ch.Setter else ""
                # a change outside any Kubernetes object (a Helm values file) has no label
                label = f"{where}: " if where else ""
                lines.append(f"- {label}{ch.OldValue} -> {ch.NewValue}{by}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _fit_subject(prefix: str, entries: list[str]) -> str:
    shown: list[str] = []
    for i, entry in enumerate(entries):
        rest = len(entries) - i - 1
        candidate = f"{prefix}: {', '.join([*shown, entry])}"
        suffix = f", and {rest} more" if rest else ""
        if shown and len(candidate + suffix) > SUBJECT_WIDTH:
            return f"{prefix}: {', '.join(shown)}, and {len(entries) - len(shown)} more"
        shown.append(entry)
    return f"{prefix}: {', '.join(shown)}" if shown else prefix


# -- Go template syntax: detect it and show the Jinja2 equivalent ---------------------------------

_GO_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_GO_HINT = re.compile(
    r"\{\{-?\s*(?:(?:range|if|with|else|end|template|define|block)\b(?!\s*\()|[.$]|/\*)"
)
_MAPS = {"FileChanges", "Objects"}


def go_syntax(template: str) -> str | None:
    """The first Go-template action in `template`, or None if it looks like Jinja2."""
    match = _GO_HINT.search(template)
    if match is None:
        return None
    whole = _GO_ACTION.match(template, match.start())
    return whole.group(0) if whole else match.group(0)


def _snake_singular(name: str) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    if snake.endswith("ies"):
        return snake[:-3] + "y"
    if snake.endswith("s") and len(snake) > 1:
        return snake[:-1]
    return snake or "item"


def go_to_jinja(template: str) -> str:
    """Best-effort translation of a Go template into Jinja2, for the error message."""
    scopes: list[tuple[str, str | None]] = []  # (block kind, loop variable standing for `.`)
    loop_index: dict[str, str] = {}

    def dot() -> str | None:
        for _, var in reversed(scopes):
            if var:
                return var
        return None

    def expr(text: str) -> str:
        words = text.split()
        if words and words[0] in ("len",) and len(words) == 2:
            return f"{expr(words[1])}|length"
        if words and words[0] in ("print", "println") and len(words) >= 2:
            return " ~ ".join(expr(w) for w in words[1:]) + (' ~ "\\n"' if words[0] == "println" else "")
        out = []
        for word in words:
            if word == ".":
                out.append(dot() or "this")
            elif word.startswith("."):
                base = dot()
                out.append(f"{base}{word}" if base else word[1:])
            elif word.startswith("$"):
                name = word[1:].split(".", 1)[0]
                out.append(loop_index.get(name, word[1:]))
            else:
                out.append(word)
        return " ".join(out)

    def action(m: re.Match[str]) -> str:
        left, body, right = m.group(1), m.group(2), m.group(3)
        open_, close = "{%" + left, right + "%}"
        if body.startswith("/*"):
            return "{# " + body.removeprefix("/*").removesuffix("*/").strip() + " #}"
        head, _, rest = body.partition(" ")
        if head == "range":
            vars_, sep, pipe = rest.partition(":=")
            if not sep:
                pipe, vars_ = rest, ""
            source = expr(pipe.strip())
            names = [v.strip().lstrip("$") for v in vars_.split(",") if v.strip()]
            is_map = source.rsplit(".", 1)[-1] in _MAPS
            if len(names) == 2 and is_map:
                scopes.append(("for", None))
                return f"{open_} for {names[0]}, {names[1]} in {source}.items() {close}"
            if len(names) == 2:
                loop_index[names[0]] = "loop.index0"
                scopes.append(("for", None))
                return f"{open_} for {names[1]} in {source} {close}"
            var = names[0] if names else _snake_singular(source.rsplit(".", 1)[-1])
            scopes.append(("for", None if names else var))
            return f"{open_} for {var} in {source}{'.values()' if is_map else ''} {close}"
        if head == "if":
            scopes.append(("if", None))
            return f"{open_} if {expr(rest)} {close}"
        if head == "with":
            scopes.append(("with", "it"))
            return f"{open_} with it = {expr(rest)} {close}{open_} if it {close}"
        if head == "else":
            if rest.startswith("if "):
                return f"{open_} elif {expr(rest[3:])} {close}"
            return f"{open_} else {close}"
        if head == "end":
            kind = scopes.pop()[0] if scopes else "if"
            if kind == "with":
                return f"{open_} endif {close}{open_} endwith {close}"
            return f"{open_} end{kind} {close}"
        return "{{" + left + " " + expr(body) + " " + right + "}}"

    return _GO_ACTION.sub(action, template)
