"""Find the marked scalars of a YAML text and where exactly they are.

Works on the parser's event stream (ruamel.yaml, pure Python): every scalar event carries start and
end marks (character offsets), and events say whether a scalar is a mapping key, a mapping value
or a sequence item. Comments are not in the event stream, so a marker is found in the text itself:
after the scalar on its line, or on the comment line directly above a sequence item, and only where
no scalar (a block scalar's text, a multi-line quoted string) covers that comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError as _MarkedYAMLError
from ruamel.yaml.error import YAMLError as _RuamelError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from imagebot.update.changes import ObjectRef
from imagebot.update.markers import SHORTHAND, InvalidMarker, Marker, Shorthands, parse_comment

try:  # optional: ruamel.yaml.clib, libyaml's parser
    from _ruamel_yaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on the installation
    _CParser = None

# One parse event reduced to what its meaning depends on (marks and comments left out).
EventKey = tuple[Any, ...]


@dataclass(frozen=True)
class Target:
    """A scalar carrying a marker."""

    ordinal: int  # index among the scalar events of the file
    start: int  # character offsets of the scalar's own text, quotes included (not anchor or tag)
    end: int
    style: str | None  # None (plain), "'" or '"'
    value: str
    line: int  # 1-based
    marker: Marker
    in_flow: bool  # inside a flow collection: ',', '[', ']', '{', '}' and ':' matter there
    object: ObjectRef | None


@dataclass(frozen=True)
class MarkerProblem:
    line: int
    message: str


@dataclass
class Scan:
    targets: list[Target]
    problems: list[MarkerProblem]
    events: list[EventKey]  # the whole stream, for verification after the edit
    fast: bool  # parsed by libyaml; verification must use the same parser


class YAMLError(ValueError):
    """The text is not valid YAML (a Helm template, for example)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class _Object:
    """apiVersion, kind and metadata of a mapping that may be a Kubernetes object."""

    fields: dict[str, str] = field(default_factory=dict)

    def ref(self) -> ObjectRef | None:
        kind = self.fields.get("kind")
        api_version = self.fields.get("apiVersion")
        if not kind or not api_version:
            return None
        return ObjectRef(api_version, kind, self.fields.get("namespace", ""), self.fields.get("name", ""))


@dataclass
class _Frame:
    kind: str  # "doc", "map" or "seq"
    flow: bool = False
    expect_key: bool = True
    key: str | None = None
    obj: _Object | None = None  # set on mappings that can be objects: roots, root list items
    meta_of: _Object | None = None  # set on the `metadata` mapping of such an object
    objects: tuple[_Object, ...] = ()  # candidate objects enclosing this frame, outermost first
    key_end: int | None = None  # offset just after the current key's text (scalar keys only)
    key_line: int = 0


def event_key(event: Any) -> EventKey:
    cls = event.__class__
    if cls is ScalarEvent:
        return ("scalar", event.anchor, event.tag, event.implicit, event.value, event.style or None)
    if cls is MappingStartEvent or cls is SequenceStartEvent:
        return (cls.__name__, event.anchor, event.tag, event.implicit, event.flow_style)
    if cls is AliasEvent:
        return ("alias", event.anchor)
    if cls is DocumentStartEvent:
        return ("doc", event.explicit, event.version, tuple(sorted((event.tags or {}).items())))
    if isinstance(event, ScalarEvent):  # a subclass: never made by ruamel's parsers, read the slow way
        return ("scalar", event.anchor, event.tag, event.implicit, event.value, event.style or None)
    if isinstance(event, CollectionStartEvent):
        return (type(event).__name__, event.anchor, event.tag, event.implicit, event.flow_style)
    if isinstance(event, AliasEvent):
        return ("alias", event.anchor)
    if isinstance(event, DocumentStartEvent):
        return ("doc", event.explicit, event.version, tuple(sorted((event.tags or {}).items())))
    return (cls.__name__,)


def parse_events(text: str, fast: bool = True) -> tuple[list[Any], int, bool]:
    """Parser events of `text`, the offset to add to their marks' indexes, and whether libyaml made them.

    libyaml (ruamel.yaml.clib) is about 20 times faster than the pure-Python parser; it reads YAML
    1.1 only and rejects a few 1.2 forms (`a:b` in a flow collection), so anything it rejects is
    parsed again by the pure parser before the text is called invalid. Raises YAMLError.
    """
    if fast and _CParser is not None:
        body = text[1:] if text.startswith("\ufeff") else text  # libyaml does not count the BOM
        try:
            return _c_events(body), len(text) - len(body), True
        except _RuamelError:
            pass
    try:
        return list(YAML(typ="safe", pure=True).parse(text)), 0, False
    except _MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YAMLError(f"not valid YAML: {err.problem or err.context}", line) from None
    except _RuamelError as err:
        raise YAMLError(f"not valid YAML: {err}", 0) from None


def _c_events(text: str) -> list[Any]:
    assert _CParser is not None
    parser = _CParser(text)
    try:
        events = list(iter(parser.get_event, None))  # None follows the stream's end
    finally:
        parser.dispose()
    if not events or not isinstance(events[-1], StreamEndEvent):
        raise _RuamelError("the parser stopped before the end of the stream")
    return events


def scan(text: str, default_namespace: str, fast: bool = True) -> Scan:
    targets: list[_PendingTarget] = []
    problems: list[MarkerProblem] = []
    stack: list[_Frame] = []
    flow_depth = 0  # flow collections open: ',', '[', ']', '{', '}' and ':' matter inside them
    ordinal = -1
    spans: list[tuple[int, int]] = []  # of the scalars so far, to tell comments from scalar text
    # Where the marker's key word stands: only a scalar followed by it on its line (or, for a sequence
    # item, below a line holding it) can be marked, and only keys and collections so followed can
    # carry a stray marker. Lines here are what a newline ends, as for the comments read below.
    marked = Shorthands(text)

    events, offset, used_fast = parse_events(text, fast)
    keys = [event_key(event) for event in events]
    for event in events:
        cls = event.__class__
        if cls is ScalarEvent:
            kind = _SCALAR
        elif cls is MappingStartEvent or cls is SequenceStartEvent or cls is AliasEvent:
            kind = _NODE
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            kind = _END
        elif cls is DocumentStartEvent:
            kind = _DOC
        else:  # stream and document ends, or a subclass (never made by ruamel's parsers)
            kind = _kind(event)
        if kind == _DOC:
            stack = [_Frame("doc")]
            flow_depth = 0
            continue
        if kind == _END:
            closed = stack.pop()
            if closed.flow:
                flow_depth -= 1
                if marked.after(event.end_mark.index + offset) and (problem := _after_flow(
                        text, event.end_mark.index + offset, flow_depth > 0, event.end_mark.line + 1,
                        default_namespace)):
                    problems.append(problem)
            continue
        if not stack or kind is None:
            continue

        parent = stack[-1]
        role = _role(parent)  # "key", "value", "item" or "root"
        key = parent.key
        if (role == "value" and parent.key_end is not None and marked.after(parent.key_end)
                and (problem := _on_key(text, parent, event, offset, default_namespace))):
            problems.append(problem)
        alias_end = event.end_mark.index + offset if cls is AliasEvent and role in ("value", "item") else -1
        if alias_end >= 0 and marked.after(alias_end) and _is_marker(
                _line_comment(text, alias_end, alias_end, False, flow_depth > 0), default_namespace):
            problems.append(MarkerProblem(event.start_mark.line + 1, f"marker ignored: it follows an alias "
                                          f"(*{event.anchor}); mark the anchored value instead"))

        if kind == _SCALAR:
            ordinal += 1
            start_mark, end_mark = event.start_mark, event.end_mark
            start, end = start_mark.index + offset, end_mark.index + offset
            if role == "key":
                parent.key = event.value
                parent.key_end, parent.key_line = end, end_mark.line + 1
            elif role == "value" and parent.meta_of is not None and key in ("name", "namespace"):
                parent.meta_of.fields[key] = event.value
            elif role == "value" and parent.obj is not None and key in ("apiVersion", "kind"):
                parent.obj.fields[key] = event.value
            if role == "value" or role == "item":
                block = event.style in ("|", ">")
                # a scalar's marker follows it on its line (a block scalar's, its header), or for a
                # sequence item stands on the line above
                if marked.after(start if block else end) or (role == "item" and marked.above(start)):
                    _find_marker(text, event, start, end, block, flow_depth > 0, role, spans, default_namespace,
                                 ordinal, parent, problems, targets)
            spans.append((start, end))
        elif cls is not AliasEvent:  # a collection starts
            frame = _Frame(
                "map" if cls is MappingStartEvent or isinstance(event, MappingStartEvent) else "seq",
                flow=bool(event.flow_style),
                objects=parent.objects,
            )
            if frame.flow:
                flow_depth += 1
            if frame.kind == "map":
                if _may_be_object(stack, role):
                    frame.obj = _Object()
                    frame.objects = (*parent.objects, frame.obj)
                elif role == "value" and key == "metadata" and parent.obj is not None:
                    frame.meta_of = parent.obj
            stack.append(frame)
        if role == "key":
            parent.expect_key = False
            if kind != _SCALAR:
                parent.key = parent.key_end = None  # a complex key or an alias: never one we look at
        elif role == "value":
            parent.expect_key = True  # parent.key stays: the children of this value need it

    return Scan([t.resolve() for t in targets], problems, keys, used_fast)


_SCALAR, _NODE, _END, _DOC = range(4)


def _kind(event: Any) -> int | None:
    if isinstance(event, ScalarEvent):
        return _SCALAR
    if isinstance(event, (CollectionStartEvent, AliasEvent)):
        return _NODE
    if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
        return _END
    if isinstance(event, DocumentStartEvent):
        return _DOC
    return None


def _find_marker(
    text: str, event: Any, start: int, end: int, block: bool, in_flow: bool, role: str,
    spans: list[tuple[int, int]], default_namespace: str, ordinal: int, parent: _Frame,
    problems: list[MarkerProblem], targets: list[_PendingTarget],
) -> None:
    found = _marker_for(text, start, end, block, in_flow, event.start_mark.line + 1, role, spans, default_namespace)
    if isinstance(found, MarkerProblem):
        problems.append(found)
    elif found is not None:
        line = event.start_mark.line + 1
        if block:
            problems.append(MarkerProblem(line, "a marker on a block scalar is not supported"))
        elif not event.value and not event.style:
            # parsers disagree on where an empty value is; a quoted one has a place
            problems.append(MarkerProblem(line, 'a marker on an empty value is not supported; write "" there'))
        else:
            value_start = _skip_properties(text, start)
            targets.append(
                _PendingTarget(ordinal, value_start, end, event.style, event.value, line, found, in_flow,
                               parent.objects)
            )


@dataclass
class _PendingTarget:
    """A target whose object is known only once its document has been read to the end."""

    ordinal: int
    start: int
    end: int
    style: str | None
    value: str
    line: int
    marker: Marker
    in_flow: bool
    objects: tuple[_Object, ...]

    def resolve(self) -> Target:
        ref = None
        for obj in reversed(self.objects):  # innermost object that is not a List wrapper
            ref = obj.ref()
            if ref is not None and not ref.kind.endswith("List"):
                break
            ref = None
        style = self.style if self.style in ("'", '"') else None
        return Target(
            self.ordinal, self.start, self.end, style, self.value, self.line, self.marker,
            self.in_flow, ref,
        )


def _role(parent: _Frame) -> str:
    if parent.kind == "map":
        return "key" if parent.expect_key else "value"
    return "item" if parent.kind == "seq" else "root"


def _may_be_object(stack: list[_Frame], role: str) -> bool:
    """Document roots, items of a root sequence, and items of a root List's `items`."""
    if role == "root":
        return True
    if role != "item" or len(stack) < 2:
        return False
    grand = stack[-2]
    if grand.kind == "doc":
        return True
    return len(stack) == 3 and grand.kind == "map" and grand.obj is not None and grand.key == "items"


def _is_marker(comment: str | None, default_namespace: str) -> bool:
    if comment is None:
        return False
    try:
        return parse_comment(comment, default_namespace) is not None
    except InvalidMarker:
        return True  # meant as one: the reader wants to hear it marks nothing either way


def _on_key(text: str, parent: _Frame, event: Any, offset: int, default_namespace: str) -> MarkerProblem | None:
    """A marker after a key whose value is not a scalar on the same line: it marks nothing (Flux's
    markers mark scalar values), which the writer of the file needs to hear."""
    if parent.key_end is None:
        return None
    start = event.start_mark.index + offset
    same_line = event.start_mark.line + 1 == parent.key_line
    if isinstance(event, ScalarEvent) and same_line:
        return None  # the ordinary case: the marker, if any, follows the value
    eol = text.find("\n", parent.key_end)
    stop = len(text) if eol < 0 else eol
    segment = text[parent.key_end : min(stop, start) if same_line else stop]
    hash_at = next((i for i, ch in enumerate(segment) if ch == "#" and i > 0 and segment[i - 1] in " \t"), -1)
    if hash_at < 0 or not _is_marker(segment[hash_at:].rstrip("\r"), default_namespace):
        return None
    where = f"it is on the key {parent.key!r}"
    if isinstance(event, MappingStartEvent):
        why = f"{where}, whose value is a mapping"
    elif isinstance(event, CollectionStartEvent):
        why = f"{where}, whose value is a sequence"
    elif isinstance(event, AliasEvent):
        why = f"{where}, whose value is an alias"
    else:
        why = f"{where}, not after its value (on line {event.start_mark.line + 1})"
    return MarkerProblem(parent.key_line, f"marker ignored: {why}; markers go after a scalar value, on its line")


def _after_flow(text: str, end: int, in_flow: bool, line: int, default_namespace: str) -> MarkerProblem | None:
    """A marker after a flow collection (`[a, b] # marker`) marks no scalar."""
    comment = _line_comment(text, end, end, False, in_flow)
    if not _is_marker(comment, default_namespace):
        return None
    return MarkerProblem(line, "marker ignored: it follows a flow collection ({...} or [...]), not a scalar "
                               "value; mark a scalar, or write the collection in block style")


def _marker_for(
    text: str, start: int, end: int, block: bool, in_flow: bool, line: int, role: str,
    spans: list[tuple[int, int]], default_namespace: str,
) -> Marker | MarkerProblem | None:
    """The marker of this scalar: its line comment, else (for sequence items) the line above."""
    comment = _line_comment(text, start, end, block, in_flow)
    if comment is None and role == "item":
        comment, line = _comment_above(text, start, spans), line - 1
    if comment is None:
        return None
    try:
        return parse_comment(comment, default_namespace)
    except InvalidMarker as err:
        return MarkerProblem(line, f"marker ignored: {err}")


def _line_comment(text: str, start: int, end: int, block: bool, in_flow: bool) -> str | None:
    # A block scalar's comment sits on its header line, before the scalar's text.
    pos = start if block else end
    eol = text.find("\n", pos)
    rest = text[pos:] if eol < 0 else text[pos:eol]
    if SHORTHAND not in rest:
        return None
    if block:
        hash_at = rest.find(" #")
        return rest[hash_at + 1 :].rstrip("\r") if hash_at >= 0 else None
    stripped = rest.lstrip(" \t")
    if in_flow and stripped.startswith(","):  # `[a, b, # comment` marks b
        rest = stripped[1:]
        stripped = rest.lstrip(" \t")
    # YAML needs whitespace before a comment's '#'
    if not stripped.startswith("#") or len(stripped) == len(rest):
        return None
    return stripped.rstrip("\r")


def _comment_above(text: str, start: int, spans: list[tuple[int, int]]) -> str | None:
    line_start = text.rfind("\n", 0, start) + 1
    if line_start == 0:
        return None
    above_start = text.rfind("\n", 0, line_start - 1) + 1
    above = text[above_start : line_start - 1]
    stripped = above.lstrip(" \t\ufeff")
    if not stripped.startswith("#") or SHORTHAND not in stripped:
        return None
    hash_at = above_start + len(above) - len(stripped)
    for span_start, span_end in reversed(spans):  # scalars do not overlap: the last one before counts
        if span_start <= hash_at:
            if hash_at < span_end:
                return None  # text of a block scalar or a multi-line string, not a comment
            break
    return stripped.rstrip("\r")


def _skip_properties(text: str, pos: int) -> int:
    """Move past a node's anchor (`&a`) and tag (`!t`) to the scalar's own text."""
    while text[pos] in "&!":
        while text[pos] not in " \t\r\n":
            pos += 1
        while text[pos] in " \t\r\n":
            pos += 1
        if text[pos] == "#":  # a comment between the properties and the value
            pos = text.index("\n", pos)
            while text[pos] in " \t\r\n":
                pos += 1
    return pos
