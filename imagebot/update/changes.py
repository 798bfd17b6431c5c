"""The change set an update produces: what commit messages, PR bodies and notifications are made of.

Shaped after Flux's commit template data: `by_file()` is `Changed.FileChanges` (file -> object ->
changes), `changes` is `Changed.Changes`, `by_object()` is `Changed.Objects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NoteLevel = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class PolicyValue:
    """The latest image a policy selected. `image` is the ImageRepository's `spec.image` as written.

    `tag` may be empty when only a digest is known (then full-image markers get `IMAGE@DIGEST`).
    """

    image: str
    tag: str
    digest: str | None = None

    def reference(self) -> str:
        """The full reference a `NS:NAME` marker receives: `IMAGE:TAG`, plus `@DIGEST` when known."""
        ref = self.image
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


@dataclass(frozen=True, order=True)
class ObjectRef:
    """The Kubernetes object a changed value belongs to; namespace is "" when metadata omits it."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}" if where else self.kind  # a kustomization.yaml has no metadata


def object_label(obj: ObjectRef | None) -> str:
    """The one label of a change's object in history, notifications and output: "" for a value outside
    any Kubernetes object (a Helm values file)."""
    return str(obj) if obj is not None else ""


@dataclass(frozen=True)
class Change:
    """One replaced scalar."""

    file: str  # relative to the update root, posix separators
    object: ObjectRef | None  # None for files that are not Kubernetes objects (Helm values files)
    old_value: str
    new_value: str
    setter: str  # the marker's text as written, e.g. "flux-system:app:tag"
    line: int  # 1-based line of the scalar in the original file
    policy: str = ""  # the resolved "NAMESPACE:NAME" of the ImagePolicy


@dataclass(frozen=True)
class Note:
    """Something the user should know about: a skipped file, marker or value."""

    file: str
    line: int  # 1-based; 0 when it concerns the whole file
    message: str
    level: NoteLevel = "warning"
    code: str = ""  # stable machine-readable reason, e.g. "unknown-policy", "refused-value"
    policy: str = ""  # "NAMESPACE:NAME" when the note concerns one policy

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.level}: {self.message}"


@dataclass
class FileChange:
    """A file whose bytes changed: `old` and `new` are the whole contents."""

    path: str  # relative to the update root, posix separators
    old: bytes
    new: bytes
    changes: list[Change] = field(default_factory=list)


@dataclass
class UpdateResult:
    files: list[FileChange] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    written: bool = False  # True when the changed files were written to disk
    marked: set[str] = field(default_factory=set)  # "NAMESPACE:NAME" of every policy a marker names

    @property
    def changes(self) -> list[Change]:
        return [change for file in self.files for change in file.changes]

    @property
    def ok(self) -> bool:
        """False when a value was refused or a file could not be updated."""
        return not any(note.level == "error" for note in self.notes)

    def by_file(self) -> dict[str, dict[ObjectRef | None, list[Change]]]:
        grouped: dict[str, dict[ObjectRef | None, list[Change]]] = {}
        for file in self.files:
            objects = grouped.setdefault(file.path, {})
            for change in file.changes:
                objects.setdefault(change.object, []).append(change)
        return grouped

    def by_object(self) -> dict[ObjectRef | None, list[Change]]:
        grouped: dict[ObjectRef | None, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.object, []).append(change)
        return grouped
