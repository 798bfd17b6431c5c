"""filterTags: keep the tags a pattern matches and, with ``extract``, rank them by a part of them.

The pattern is unanchored Go/RE2 syntax. ``extract`` expands as Go's ``Regexp.Expand`` does:
``$1``, ``$name`` and ``${name}`` insert a group, ``$$`` is a ``$``; a name is the longest run of
letters, digits and ``_`` (so ``$1x`` names a group ``1x``), a group that does not exist or did not
take part expands to nothing, a name that several groups share expands to the first of them that
took part, and a ``$`` that starts no name stays as it is. When several tags extract the same value
the lexicographically smallest tag stands for it (Flux's tags come sorted descending, the last one
holding a value wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from imagebot.policy.errors import PolicyError
from imagebot.policy.regex import BATCH_MIN, GoRegexp
from imagebot.policy.taglines import TagLines

# A compiled template: literal text, or the indexes of the groups whose first participant is inserted.
Template = tuple[str | tuple[int, ...], ...]


def _name_end(template: str, i: int) -> int:
    while i < len(template) and (template[i] == "_" or template[i].isalpha() or template[i].isdecimal()):
        i += 1
    return i


def _parse_template(template: str) -> Iterator[tuple[str, str]]:
    """Go's Regexp.Expand reading of a template: ("text", literal) and ("group", name) pieces."""
    i = 0
    while True:
        dollar = template.find("$", i)
        if dollar < 0:
            yield "text", template[i:]
            return
        yield "text", template[i:dollar]
        i = dollar + 1
        if template.startswith("$", i):
            yield "text", "$"
            i += 1
            continue
        brace = template.startswith("{", i)
        start = i + 1 if brace else i
        end = _name_end(template, start)
        if end == start or (brace and not template.startswith("}", end)):
            yield "text", "$"  # malformed: the $ is plain text
            continue
        i = end + 1 if brace else end
        yield "group", template[start:end]


def compile_template(template: str, groups: int, group_names: dict[str, tuple[int, ...]]) -> Template:
    """Resolve an extract template against a pattern's groups, following Go's Regexp.Expand."""
    parts: list[str | tuple[int, ...]] = []
    literal: list[str] = []
    for kind, text in _parse_template(template):
        if kind == "text":
            literal.append(text)
            continue
        indexes = _group_indexes(text, groups, group_names)
        if indexes:  # a group that does not exist expands to nothing
            parts.append("".join(literal))
            literal = []
            parts.append(indexes)
    parts.append("".join(literal))
    return tuple(part for part in parts if part != "")


def missing_groups(template: str, groups: int, group_names: dict[str, tuple[int, ...]]) -> list[str]:
    """The group names or numbers a template names that the pattern does not have."""
    return [text for kind, text in _parse_template(template)
            if kind == "group" and not _group_indexes(text, groups, group_names)]


def _group_indexes(name: str, groups: int, group_names: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    # Go reads a name as a number only if it is ASCII digits, without leading zeros, of at most 9 digits.
    if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0") and len(name) <= 9:
        number = int(name)
        return (number,) if number <= groups else ()
    return group_names.get(name, ())


class TagFilter:
    __slots__ = ("extract", "regexp", "template")

    def __init__(self, pattern: str, extract: str | None = None) -> None:
        self.regexp = GoRegexp(pattern, "filterTags pattern")
        self.extract = extract or None
        self.template = (
            compile_template(extract, self.regexp.groups, self.regexp.group_names) if extract else None
        )

    def value(self, tag: str) -> str | None:
        """What the tag ranks as: itself or its extracted value if the pattern matches, else None."""
        encoded = tag.encode("utf-8", "surrogateescape")
        spans = self.regexp.search(encoded)
        if spans is None:
            return None
        if self.template is None:
            return tag
        return _expand(self.template, encoded, spans)

    def apply(self, tags: Iterable[str]) -> dict[str, str]:
        """The value of each matching tag mapped to the tag it came from (the smallest, on a clash)."""
        if isinstance(tags, TagLines):
            if tags.text.isascii():
                return self._apply_ascii(tags.text, empty_lines_are_tags=False) if tags.text else {}
            tags = tags.tags
        tags = tags if isinstance(tags, list) else list(tags)
        if len(tags) >= BATCH_MIN:
            text = "\n".join(tags)
            if text.isascii() and text.count("\n") == len(tags) - 1:  # no tag holds a newline: a line is a tag
                return self._apply_ascii(text, empty_lines_are_tags=True)
        # Other tags are matched by index, and the tag kept is the one given (UTF-8 with
        # surrogateescape does not give every string back: "\udcc3\udca9" would come back as "é").
        template = self.template
        group = None if template is None else _single_group(template)
        values: dict[str, str] = {}
        for index, haystack, spans in self.regexp.search_each(tags):
            tag = tags[index]
            value = tag if template is None else _value(template, group, haystack, spans)
            held = values.get(value)
            if held is None or tag < held:
                values[value] = tag
        return values

    def _apply_ascii(self, text: str, empty_lines_are_tags: bool) -> dict[str, str]:
        """`apply` over ASCII tags joined by newlines: the lines are searched where they stand (one call
        into RE2 per matching line, see GoRegexp.search_lines), and only the matching ones become strings."""
        template = self.template
        group = None if template is None else _single_group(template)
        values: dict[str, str] = {}
        get = values.get
        for start, end, haystack, spans in self.regexp.search_lines(text.encode("ascii"), text):
            if start == end and not empty_lines_are_tags:
                continue
            tag = text[start:end]  # ASCII: byte and character indexes agree
            if template is None:
                values[tag] = tag
                continue
            if group is None:
                value = _expand(template, haystack, spans)
            else:  # `$ts`, the common case, inline
                first, stop = spans[group]
                value = haystack[first:stop] if first >= 0 else ""
                if value.__class__ is bytes:  # (a line searched alone)
                    value = value.decode("ascii")
            held = get(value)
            if held is None or tag < held:
                values[value] = tag
        return values

    def describe(self) -> str:
        text = f"filter {self.regexp.pattern}"
        return text + (f" -> {self.extract}" if self.extract else "")


def _single_group(template: Template) -> int | None:
    """The group a template inserts when it is that group alone (`$ts`, the common case), else None."""
    if len(template) == 1 and template[0].__class__ is tuple and len(template[0]) == 1:
        return template[0][0]
    return None


def _value(template: Template, group: int | None, haystack: bytes | str, spans: list[tuple[int, int]]) -> str:
    if group is None:
        return _expand(template, haystack, spans)
    start, end = spans[group]
    if start < 0:
        return ""
    value = haystack[start:end]
    return value if value.__class__ is str else value.decode("utf-8", "surrogateescape")


def _expand(template: Template, haystack: bytes | str, spans: list[tuple[int, int]]) -> str:
    """The template with the groups' text; `haystack` is what the spans index (UTF-8 bytes, or ASCII text)."""
    out = []
    for part in template:
        if part.__class__ is str:
            out.append(part)
            continue
        for index in part:
            start, end = spans[index]
            if start >= 0:
                piece = haystack[start:end]
                out.append(piece if piece.__class__ is str else piece.decode("utf-8", "surrogateescape"))
                break
    return "".join(out)


def build_filter(pattern: str | None, extract: str | None) -> TagFilter | None:
    """The filterTags of a policy. Unlike Flux, an extract naming a group the pattern lacks is an
    error: Go expands it to nothing, so every tag would rank by the same (or a truncated) value."""
    if pattern is None or pattern == "":
        if extract:
            raise PolicyError(
                f"filterTags extract {extract!r} needs a filterTags pattern with groups to extract from"
            )
        return None
    tag_filter = TagFilter(pattern, extract)
    if extract:
        regexp = tag_filter.regexp
        missing = missing_groups(extract, regexp.groups, regexp.group_names)
        if missing:
            raise PolicyError(_missing_message(extract, regexp, missing))
    return tag_filter


def _missing_message(extract: str, regexp: GoRegexp, missing: list[str]) -> str:
    has = [str(n) for n in range(1, regexp.groups + 1)] + sorted(regexp.group_names)
    shown = regexp.pattern if len(regexp.pattern) <= 200 else regexp.pattern[:200] + "..."
    text = (
        f"filterTags extract {extract!r} names group {missing[0]!r}, which pattern {shown!r} does not have "
        f"({'it has ' + ', '.join(has) if has else 'it has no groups'})"
    )
    # Go reads the longest run of letters, digits and _ as the name: $1_ is group "1_", not group 1.
    for name in missing:
        for cut in range(len(name) - 1, 0, -1):
            if _group_indexes(name[:cut], regexp.groups, regexp.group_names):
                rest = name[cut:]
                return text + f"; write ${{{name[:cut]}}}{rest} to put {rest!r} right after group {name[:cut]!r}"
    return text
