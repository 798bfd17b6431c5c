"""What is known of one change's release, as plain values (template data uses these names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReleaseNotes:
    """A release as the forge describes it; `Text` is its Markdown body, already bounded."""

    Title: str
    Text: str
    URL: str | None = None
    Truncated: bool = False


@dataclass(frozen=True)
class Release:
    """`Changed.Changes[].Release` in templates: the new image's source and what changed in it.

    Source is the repository's web address; Compare links the old revision (or version) to the new
    one on GitHub, GitLab or Gitea; Notes are the new version's release notes, when found."""

    Source: str
    Version: str | None = None
    Revision: str | None = None
    OldRevision: str | None = None
    Compare: str | None = None
    URL: str | None = None  # org.opencontainers.image.url: the image's own page
    Notes: ReleaseNotes | None = None

    def __bool__(self) -> bool:
        # `{% if change.Release %}`: false for NO_RELEASE, the value of a change without source labels
        return bool(self.Source)


NO_RELEASE = Release(Source="")
