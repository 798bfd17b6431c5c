"""Apply policy values to the marked scalars under a folder (or in one file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from imagebot.update.changes import Change, FileChange, Note, PolicyValue, UpdateResult
from imagebot.update.files import Candidate, Skipped, atomic_write, candidates
from imagebot.update.scan import Target, YAMLError, scan
from imagebot.update.splice import Edit, render_scalar, splice
from imagebot.update.validate import refusal
from imagebot.update.verify import verify


def apply_updates(
    root: str | PathLike[str],
    values: Mapping[str, PolicyValue],
    *,
    default_namespace: str = "default",
    write: bool = True,
) -> UpdateResult:
    """Write each policy's value into the scalars whose markers name it.

    `values` is keyed by "NAMESPACE:NAME" of the ImagePolicy. A file whose edit does not verify is
    left untouched and reported in `notes`; the other files still update.
    """
    context = _Context(values, {key: refusal(v) for key, v in values.items()}, default_namespace, set())
    result = UpdateResult(marked=context.marked)
    for item in candidates(Path(root)):
        if isinstance(item, Skipped):
            result.notes.append(Note(item.rel, 0, f"not followed: {item.reason}", "warning", "symlink-outside"))
            continue
        change, notes = update_file(item, context)
        result.notes.extend(notes)
        if change is None:
            continue
        if write:
            try:
                atomic_write(item.path, change.new)
            except OSError as err:
                result.notes.append(
                    Note(item.rel, 0, f"could not write the file: {err.strerror}", "error", "write-failed")
                )
                continue
        result.files.append(change)
    result.notes.sort(key=lambda n: (n.file, n.line))
    result.written = write
    return result


@dataclass(frozen=True)
class _Context:
    values: Mapping[str, PolicyValue]
    refusals: Mapping[str, str | None]
    default_namespace: str
    marked: set[str]  # every policy a marker names, filled in as files are read


def update_file(item: Candidate, context: _Context) -> tuple[FileChange | None, list[Note]]:
    rel, data = item.rel, item.data
    notes: list[Note] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Note(rel, 0, "skipped: the file is not UTF-8 text", "warning", "not-utf8")]
    try:
        found = scan(text, context.default_namespace)
    except YAMLError as err:
        return None, [Note(rel, err.line, f"skipped, never changed: {err}", "warning", "invalid-yaml")]
    notes.extend(Note(rel, p.line, p.message, "warning", "invalid-marker") for p in found.problems)

    edits: list[Edit] = []
    changes: list[Change] = []
    expected: dict[int, str] = {}
    for target in found.targets:
        context.marked.add(target.marker.policy)
        new_value = _new_value(rel, target, context, notes)
        if new_value is None or new_value == target.value:
            continue
        edits.append(Edit(target.start, target.end, render_scalar(new_value, target.style, target.in_flow)))
        expected[target.ordinal] = new_value
        changes.append(
            Change(
                file=rel, object=target.object, old_value=target.value, new_value=new_value,
                setter=target.marker.setter, line=target.line, policy=target.marker.policy,
            )
        )
    if not edits:
        return None, notes
    new = splice(data, text, edits)
    problem = verify(new.decode("utf-8"), found.events, expected, found.fast)
    if problem is not None:
        notes.append(Note(rel, 0, f"left untouched: {problem}", "error", "verify-failed"))
        return None, notes
    return FileChange(rel, data, new, changes), notes


def _new_value(rel: str, target: Target, context: _Context, notes: list[Note]) -> str | None:
    marker = target.marker
    value = context.values.get(marker.policy)
    if value is None:
        notes.append(
            Note(rel, target.line, f"no policy {marker.policy} (marker {marker.setter!r}); left alone",
                 "warning", "unknown-policy", marker.policy)
        )
        return None
    problem = context.refusals.get(marker.policy)
    if problem is not None:
        notes.append(
            Note(rel, target.line, f"refused {marker.policy}: {problem}", "error", "refused-value", marker.policy)
        )
        return None
    if marker.field == "name":
        return value.image
    if marker.field == "tag":
        if not value.tag:
            notes.append(Note(rel, target.line, f"policy {marker.policy} has no tag; left alone", "warning",
                              "no-tag", marker.policy))
            return None
        return value.tag
    if marker.field == "digest":
        if not value.digest:
            notes.append(Note(rel, target.line, f"policy {marker.policy} has no digest; left alone", "warning",
                              "no-digest", marker.policy))
            return None
        return value.digest
    if not value.tag and not value.digest:
        notes.append(Note(rel, target.line, f"policy {marker.policy} has neither tag nor digest; left alone",
                          "warning", "no-tag", marker.policy))
        return None
    return value.reference()
