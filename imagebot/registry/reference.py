"""Image references, parsed and normalised the way docker does (distribution/reference).

`nginx` is `docker.io/library/nginx`, served by `registry-1.docker.io`; the first path component
is a registry host only when it contains a `.` or a `:`, or is `localhost`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imagebot.grammar import DOMAIN, MAX_NAME_LENGTH, PATH, TAG, is_tag

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_MAX_NAME_LENGTH = MAX_NAME_LENGTH

_DOMAIN = re.compile(DOMAIN)
_PATH = re.compile(PATH)
_TAG = TAG
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


def is_valid_tag(tag: str) -> bool:
    """Whether `tag` is a valid OCI/docker tag (what may follow the `:` of a reference)."""
    return is_tag(tag)


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalised image reference: registry, repository and an optional tag and digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse `text` as docker does; raise ValueError saying what is wrong with it."""
        original = text
        if not text or text != text.strip():
            raise ValueError(f"invalid image reference {original!r}: empty or surrounded by whitespace")
        digest = None
        if "@" in text:
            text, digest = text.split("@", 1)
            if not _DIGEST.fullmatch(digest):
                raise ValueError(
                    f"invalid image reference {original!r}: digest {digest!r} is not ALGORITHM:HEX "
                    "(for example sha256: and 64 hex digits)"
                )
        tag = None
        # A ':' after the last '/' separates the tag; one before it belongs to a host:port.
        name, sep, maybe_tag = text.rpartition(":")
        if sep and "/" not in maybe_tag:
            text, tag = name, maybe_tag
            if not _TAG.fullmatch(tag):
                raise ValueError(
                    f"invalid image reference {original!r}: tag {tag!r} must be 1-128 characters of "
                    "letters, digits, '_', '.' and '-', not starting with '.' or '-'"
                )
        registry, repository = _split_registry(text, original)
        if not _PATH.fullmatch(repository):
            hint = " (repository names must be lowercase)" if repository.lower() != repository else ""
            raise ValueError(
                f"invalid image reference {original!r}: repository {repository!r} is not a valid "
                f"name{hint}; components are lowercase letters and digits separated by '.', '_', "
                "'__' or '-'"
            )
        if len(f"{registry}/{repository}") > _MAX_NAME_LENGTH:
            raise ValueError(f"invalid image reference {original!r}: name longer than 255 characters")
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)

    @property
    def api_host(self) -> str:
        """Where the Distribution API requests go (host[:port])."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag=tag)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_registry(name: str, original: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    is_host = sep and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first)
    if not is_host:
        registry, repository = DOCKER_HUB, name
    else:
        if not _DOMAIN.fullmatch(first):
            raise ValueError(f"invalid image reference {original!r}: {first!r} is not a valid registry host")
        registry, repository = first, rest
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return registry, repository
