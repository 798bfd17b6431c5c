"""Unified diffs of an update, as `git diff` shows them (a/ and b/ paths relative to the root)."""

from __future__ import annotations

import difflib
import re

from imagebot.update.changes import FileChange, UpdateResult

_NO_NEWLINE = "\\ No newline at end of file\n"
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")  # split on LF only, as git does (CR stays in the line)


def unified_diff(result: UpdateResult, context: int = 3) -> str:
    return "".join(file_diff(change, context) for change in result.files)


def file_diff(change: FileChange, context: int = 3) -> str:
    old = _LINE.findall(change.old.decode("utf-8"))
    new = _LINE.findall(change.new.decode("utf-8"))
    out = [f"diff --git a/{change.path} b/{change.path}\n"]
    for line in difflib.unified_diff(old, new, f"a/{change.path}", f"b/{change.path}", n=context):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + _NO_NEWLINE)
    return "".join(out)
