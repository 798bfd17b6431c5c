"""Byte-exact updates of marked image references in YAML manifests.

Only the bytes of the replaced scalars change: positions come from the parser's marks, new text is
spliced into the original bytes, and the result is parsed again to check that exactly the
intended values changed (otherwise the file is left untouched and a note says why).
"""

from imagebot.update.apply import apply_updates
from imagebot.update.changes import Change, FileChange, Note, ObjectRef, PolicyValue, UpdateResult
from imagebot.update.diff import file_diff, unified_diff
from imagebot.update.validate import is_digest, is_image_name, is_tag, parse_reference, refusal

__all__ = [
    "Change",
    "FileChange",
    "Note",
    "ObjectRef",
    "PolicyValue",
    "UpdateResult",
    "apply_updates",
    "file_diff",
    "is_digest",
    "is_image_name",
    "is_tag",
    "parse_reference",
    "refusal",
    "unified_diff",
]
