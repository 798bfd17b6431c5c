"""Property: for generated YAML with one marked scalar, only that scalar's bytes change.

Documents vary in comments, blank lines, quoting, indentation, block scalars (some holding text that
looks like a marker), flow collections, anchors, several documents, CRLF, a BOM and the final newline.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from imagebot.update import PolicyValue, apply_updates
from imagebot.update.scan import scan

OLD = "registry.example/app:old-1"
IMAGE = "registry.example/app"
KEYS = ["image", "name", "tag", "repo", "a", "b-c", "with space", "x1", "values", "spec"]
PLAIN = ["alpha", "two words", "3", "1.5", "true", "null", "~", "ghcr.io/x/y:1", "http://a.b/c", "a#b",
         "-dash", "1.10"]
SINGLE = ["'it''s'", "'plain'", "'# not a comment'", "'1.10'"]
DOUBLE = ['"q\\"x"', '"tab\\tx"', '"# {\\"$imagepolicy\\": \\"ns:app\\"}"', '"1.10"']
BLOCK_LINES = ['# {"$imagepolicy": "ns:app"}', "  indented more", "", "- ghcr.io/org/app:v1", "k: v # c"]
COMMENTS = ["# a comment", "#", '# {"note": "json, not a marker"}', "### heading", '# {"$imagepolicy": 1'[:-3]]
SPECIAL_TAGS = ["1.10", "yes", "null", "1e3", "2024.01", "v2", "20230101", "0x1F", "on", "y", "true", "1_000",
                "_", "2.0", "1.1e2"]


@dataclass
class Marked:
    """The one marked scalar: its style and where its marker comment goes."""

    style: str  # "plain", "single" or "double"
    above: bool  # comment line above the sequence item instead of a line comment
    setter: str

    def token(self) -> str:
        return {"plain": OLD, "single": f"'{OLD}'", "double": f'"{OLD}"'}[self.style]

    def comment(self) -> str:
        return f'# {{"$imagepolicy": "{self.setter}"}}'


class Doc:
    """Renders a generated tree; decisions come from hypothesis' `draw`."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.unit = draw(st.sampled_from([2, 4]))
        self.seq_indented = draw(st.booleans())
        self.lines: list[str] = []

    def extras(self, pad: str) -> None:
        if self.draw(st.integers(0, 5)) == 0:
            self.lines.append("")
        if self.draw(st.integers(0, 4)) == 0:
            self.lines.append(pad[: self.draw(st.integers(0, len(pad)))] + self.draw(st.sampled_from(COMMENTS)))

    def trailing(self) -> str:
        if self.draw(st.integers(0, 3)) == 0:
            return " " * self.draw(st.integers(1, 3)) + self.draw(st.sampled_from(COMMENTS))
        return ""

    def scalar(self) -> str:
        return self.draw(st.sampled_from(PLAIN + SINGLE + DOUBLE))

    def flow(self) -> str:
        if self.draw(st.booleans()):
            return "[" + ", ".join(self.scalar() for _ in range(self.draw(st.integers(0, 3)))) + "]"
        keys = self.draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
        return "{" + ", ".join(f"{k}: {self.scalar()}" for k in keys) + "}"

    def block(self, content_pad: str) -> tuple[str, list[str]]:
        header = self.draw(st.sampled_from(["|", "|-", ">", ">+", "|2"]))
        if header == "|2":
            header = f"|{len(content_pad) - self.current_pad_len}"
        body = ["line one", *self.draw(st.lists(st.sampled_from(BLOCK_LINES), max_size=3))]
        return header, [content_pad + line if line else "" for line in body]

    current_pad_len = 0

    def value(self, depth: int, marked: Marked | None, in_seq: bool) -> tuple[str, Any]:
        if marked is not None:
            return "marked", marked
        kinds = ["scalar", "scalar", "flow", "block"] + (["map", "seq"] if depth < 3 else [])
        kind = self.draw(st.sampled_from(kinds))
        if kind == "map":
            return kind, self.draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=1, max_size=3))
        if kind == "seq":
            return kind, self.draw(st.integers(1, 3))
        return kind, None

    def mapping(self, indent: int, depth: int, keys: list[str], mark_at: int | None, marked: Marked | None,
                first_bare: bool = False) -> None:
        pad = " " * indent
        for i, key in enumerate(keys):
            if not (first_bare and i == 0):
                self.extras(pad)
            kind, arg = self.value(depth, marked if i == mark_at else None, False)
            self.entry(pad, f"{key}:", kind, arg, indent, depth)

    def sequence(self, indent: int, depth: int, count: int, mark_at: int | None, marked: Marked | None) -> None:
        pad = " " * indent
        for i in range(count):
            self.extras(pad)
            kind, arg = self.value(depth, marked if i == mark_at else None, True)
            if kind == "marked" and arg.above:
                self.lines.append(pad + arg.comment())
            if kind == "map":
                start = len(self.lines)
                self.mapping(indent + 2, depth + 1, arg, None, None, first_bare=True)
                self.lines[start] = pad + "- " + self.lines[start][indent + 2 :]
                continue
            self.entry(pad, "-", kind, arg, indent, depth)

    def entry(self, pad: str, lead: str, kind: str, arg: Any, indent: int, depth: int) -> None:
        child = indent + self.unit if lead != "-" else indent + 2
        if kind == "marked":
            comment = "" if arg.above else " " * self.draw(st.integers(1, 3)) + arg.comment()
            self.lines.append(f"{pad}{lead} {arg.token()}{comment}")
        elif kind == "scalar":
            self.lines.append(f"{pad}{lead} {self.scalar()}{self.trailing()}")
        elif kind == "flow":
            self.lines.append(f"{pad}{lead} {self.flow()}{self.trailing()}")
        elif kind == "block":
            self.current_pad_len = indent
            header, body = self.block(" " * child)
            self.lines.append(f"{pad}{lead} {header}{self.trailing()}")
            self.lines.extend(body)
        elif kind == "map":
            self.lines.append(f"{pad}{lead}{self.trailing()}")
            self.mapping(child, depth + 1, arg, None, None)
        elif kind == "seq":
            self.lines.append(f"{pad}{lead}{self.trailing()}")
            seq_indent = child if (lead == "-" or self.seq_indented) else indent
            self.sequence(seq_indent, depth + 1, arg, None, None)


@st.composite
def marked_documents(draw: Any) -> tuple[str, Marked, str]:
    doc = Doc(draw)
    top_is_map = draw(st.booleans())
    marked = Marked(
        style=draw(st.sampled_from(["plain", "single", "double"])),
        above=not top_is_map and draw(st.booleans()),
        setter=draw(st.sampled_from(["ns:app", "ns:app:tag"])),
    )
    if top_is_map:
        keys = draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=1, max_size=5))
        keys.insert(draw(st.integers(0, len(keys))), "marked")
        if draw(st.booleans()):
            doc.lines.append("anchored: &shared {pull: always}")
            doc.mapping(0, 0, keys, keys.index("marked"), marked)
            doc.lines.append("alias: *shared")
        else:
            doc.mapping(0, 0, keys, keys.index("marked"), marked)
    else:
        count = draw(st.integers(1, 5))
        doc.sequence(0, 0, count, draw(st.integers(0, count - 1)), marked)
    body = "\n".join(doc.lines)
    prefix = draw(st.sampled_from(["", "---\n", "# leading comment\n---\n", "other: document\n---\n"]))
    suffix = draw(st.sampled_from(["\n", "", "\n...\n", "\n---\nnext: document\n"]))
    text = prefix + body + suffix
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = "\ufeff" + text
    tag = draw(st.one_of(st.sampled_from(SPECIAL_TAGS),
                         st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)))
    return text, marked, tag


def replaced(data: Any, old: str, new: str) -> Any:
    if isinstance(data, dict):
        return {k: replaced(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [replaced(v, old, new) for v in data]
    return new if data == old else data


def load_all(text: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all(text))


EXAMPLES = int(os.environ.get("IMAGEBOT_PROPERTY_EXAMPLES", "300"))  # raise it for a longer hunt


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(marked_documents())
@example(  # a block scalar's text above a flow item, with a key in between, is not a comment
    ('marked: registry.example/app:old-1 # {"$imagepolicy": "ns:app"}\nimage: | # c\n  line one\n'
     '  # {"$imagepolicy": "ns:app"}\nname: [alpha]\n', Marked("plain", False, "ns:app"), "1.10")
)
def test_only_the_marked_scalar_changes(case: tuple[str, Marked, str]) -> None:
    text, marked, tag = case
    data = text.encode("utf-8")
    new_value = f"{IMAGE}:{tag}" if marked.setter == "ns:app" else tag
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.yaml"
        path.write_bytes(data)

        result = apply_updates(path, {"ns:app": PolicyValue(IMAGE, tag)}, write=False)

    assert [n for n in result.notes if n.level == "error"] == []
    [change] = result.changes
    assert (change.old_value, change.new_value, change.setter) == (OLD, new_value, marked.setter)
    out = result.files[0].new
    start = data.index(marked.token().encode())
    end = start + len(marked.token())
    assert out[:start] == data[:start]
    assert out.endswith(data[end:])
    middle = out[start : len(out) - (len(data) - end)].decode()
    assert YAML(typ="safe", pure=True).load(f"k: {middle}")["k"] == new_value
    if marked.style != "plain":
        assert middle[0] == middle[-1] == marked.token()[0]  # the quote style is kept
    assert load_all(out.decode()) == replaced(load_all(text), OLD, new_value)
    # libyaml and the pure-Python parser find the same marked scalar
    assert scan(text, "default", fast=True).targets == scan(text, "default", fast=False).targets
