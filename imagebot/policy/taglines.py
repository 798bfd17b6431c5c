"""Tags held as the text they came in, one a line: a tags file of 100,000 tags is searched as it is,
without first splitting it into 100,000 strings (and joining them again for the joined search)."""

from __future__ import annotations

from collections.abc import Iterator


class TagLines:
    """Tags joined by ``\\n``, none holding a line break; an empty line holds no tag.

    A sequence of the tags (equal to the list of them); the list is split from the text on first use.
    (Not a collections.abc.Sequence subclass: an ABC costs start-up time, which every command pays.)
    """

    __slots__ = ("_tags", "text")

    def __init__(self, text: str) -> None:
        self.text = text.strip("\n")  # so that the text is empty exactly when there is no tag
        self._tags: list[str] | None = None

    @property
    def tags(self) -> list[str]:
        if self._tags is None:
            self._tags = list(filter(None, self.text.split("\n")))
        return self._tags

    def __len__(self) -> int:
        return len(self.tags)

    def __bool__(self) -> bool:
        return self.text != ""

    def __getitem__(self, index: int | slice) -> str | list[str]:  # int -> str, slice -> list[str]
        return self.tags[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tags)

    def __contains__(self, tag: object) -> bool:
        return tag in self.tags

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TagLines):
            return self.tags == other.tags
        return self.tags == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return f"TagLines({self.text[:60]!r}{'...' if len(self.text) > 60 else ''})"
