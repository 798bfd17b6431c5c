"""Bounds on what one policy file may cost: its size, its nesting, and the nodes its aliases and
merge keys (`<<`) expand to. A 1 KB file of nested merges used to take minutes and gigabytes: the
expansion is counted on the composed node graph (linear in the file) before anything is built.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, StreamMark, YAMLError

MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_NODES = 500_000  # per file, counted after alias and merge expansion
MAX_DEPTH = 100


_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"([\[{]+)([\]}]+)")


class ConfigLimitError(ValueError):
    """A policy file over one of the limits; the text names the limit."""


def read_bounded(path: Path, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (a FIFO or a device is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigLimitError("not a regular file: refused (a policy file must be a plain file)")
        if info.st_size > limit:
            raise ConfigLimitError(f"{info.st_size} bytes is over the limit of {_size(limit)} for a policy file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ConfigLimitError(f"over the limit of {_size(limit)} for a policy file")
    return data


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def expanded_size(root: Any, limit: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> int:
    """How many nodes the document under `root` becomes once every alias and merge is expanded
    (counting stops soon after `limit`).

    Shared nodes are counted once per reference (that is what building and walking the data costs)
    but computed once (memoised by identity), so a bomb is measured in time linear in its file.
    """
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> int:
        ident = id(node)
        if ident in sizes:
            return sizes[ident]
        if depth > max_depth:
            raise ConfigLimitError(f"nested deeper than {max_depth} levels (the limit for a policy file)")
        if ident in active:
            raise ConfigLimitError("an alias refers to a node that contains it (a recursive alias): refused")
        active.add(ident)
        total = 1
        if isinstance(node, MappingNode):
            for key, value in node.value:
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > limit:
                    break
        elif isinstance(node, SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
                if total > limit:
                    break
        active.discard(ident)
        sizes[ident] = total
        return total

    return size(root, 0)


def flow_depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether flow collections (`[`, `{`) may nest deeper than `limit`, found before any parser recurses:
    libyaml's composer recurses in C, and a 2 MB file of `[` overflowed its stack (a segfault, not an
    exception). Each pass strips the innermost run of openers and closers everywhere (at C speed) and
    counts the deepest run stripped; brackets in strings and comments count too, which can only
    overestimate the depth."""
    brackets = _NOT_BRACKET.sub("", text)
    depth = 0
    while depth <= limit:
        deepest = 0

        def strip(match: re.Match[str]) -> str:
            nonlocal deepest
            opened, closed = match.group(1), match.group(2)
            k = min(len(opened), len(closed))
            deepest = max(deepest, k)
            return opened[:-k] + closed[k:]

        inner = _INNERMOST.sub(strip, brackets)
        if inner == brackets:
            return False
        depth += deepest
        brackets = inner
    return True


def bounded_documents(text: str) -> list[tuple[Any, Any]]:
    """(data, node) of each document, refused before construction when over a limit; libyaml first, the
    pure parser for the documents libyaml refuses (YAML 1.2 allows `host:5000/x` as a plain scalar in a
    flow mapping, libyaml does not)."""
    from ruamel.yaml import YAML

    if flow_depth_exceeds(text):
        raise ConfigLimitError(f"nested deeper than {MAX_DEPTH} levels (the limit for a policy file)")
    fast, pure = YAML(typ="safe", pure=False), YAML(typ="safe", pure=True)
    try:
        nodes = _composed(text, fast, pure)
    except RecursionError:
        raise ConfigLimitError(f"nested deeper than {MAX_DEPTH} levels (the limit for a policy file)") from None
    used = 0
    for node in nodes:
        used += expanded_size(node, MAX_NODES - used)
        if used > MAX_NODES:
            raise ConfigLimitError(f"aliases and merge keys (<<) expand to more than {MAX_NODES:,} nodes "
                                   "(the limit per policy file): refused")
    try:
        return [(pure.constructor.construct_document(n), n) for n in nodes]
    except RecursionError:
        raise ConfigLimitError(f"nested deeper than {MAX_DEPTH} levels (the limit for a policy file)") from None


# A line that starts a document: `---` at column 0, then a blank or the end of the line. YAML forbids
# it inside any scalar or collection (c-forbidden), so it always starts a new document.
_DOCUMENT_START = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)


def _composed(text: str, fast: Any, pure: Any) -> list[Any]:
    """The nodes of every document: libyaml for the whole text, else per document, the pure parser for
    each document libyaml refuses (re-parsing the whole file in pure Python cost 5x more). Their marks
    count lines from the start of the file."""
    try:
        return [n for n in fast.compose_all(text) if n is not None]
    except YAMLError:
        pass
    if re.search(r"^%", text, re.MULTILINE):  # directives (%YAML, %TAG) belong to the next document
        return [n for n in pure.compose_all(text) if n is not None]
    starts = [0, *(m.start() for m in _DOCUMENT_START.finditer(text) if m.start() > 0)]
    nodes: list[Any] = []
    line = 0
    for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
        part = text[begin:end]
        try:
            found = [n for n in fast.compose_all(part) if n is not None]
        except YAMLError:
            try:
                found = [n for n in pure.compose_all(part) if n is not None]
            except MarkedYAMLError as err:
                err.problem_mark = _moved(err.problem_mark, line, begin)
                err.context_mark = _moved(err.context_mark, line, begin)
                raise
        if begin:
            _move_marks(found, line, begin)
        nodes.extend(found)
        line += part.count("\n")
    return nodes


def _moved(mark: Any, lines: int, chars: int) -> Any:
    if mark is None:
        return None
    return StreamMark(mark.name, mark.index + chars, mark.line + lines, mark.column)


def _move_marks(nodes: list[Any], lines: int, chars: int) -> None:
    """Marks of a document parsed on its own, made to count from the start of the whole text."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    seen: set[int] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias: one node reached twice
            continue
        seen.add(id(node))
        node.start_mark = _moved(node.start_mark, lines, chars)
        node.end_mark = _moved(node.end_mark, lines, chars)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
