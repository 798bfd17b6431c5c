"""Release information for an image change: where the image's source lives (OCI labels
`org.opencontainers.image.source`, `.revision`, `.version`, `.url`), a compare link between the old
and the new revision, and the new version's release notes from the source's forge.

    labels (registry) -> ImageSource -> Release (+ notes from the forge's releases API) -> PR body,
    Slack message, commit template data (`Changed.Changes[].Release`)
"""

from imagebot.release.model import Release, ReleaseNotes
from imagebot.release.source import ImageSource, SourceRepository, compare_url, source_repository

__all__ = ["ImageSource", "Release", "ReleaseNotes", "SourceRepository", "compare_url", "source_repository"]
