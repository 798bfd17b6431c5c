"""Problems found in policy files, each pointing at a file, line, object and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["error", "note"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    object: str | None  # "ImagePolicy default/app"
    field: str | None  # "spec.policy.semver.range"
    message: str
    level: Level = "error"

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = [where]
        if self.object:
            parts.append(self.object)
        if self.field:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class ConfigError(Exception):
    """The policy files have errors; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.level == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid configuration")


def object_problem(obj: Any, fieldname: str | None, message: str, level: Level = "error") -> Problem:
    """A problem of a loaded object (a FluxObject), at the file and line it was read from."""
    origin = obj.origin
    return Problem(origin.file if origin else "?", origin.line if origin else None, obj.describe(), fieldname,
                   message, level)
