"""Manifest media types, and reading an index and an image config."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# All four, always: with fewer, distribution converts or picks a child and the digest changes.
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})


def pick_platform(manifests: list[Any]) -> str | None:
    """linux/amd64 if the index has it, else the first image that is not an attestation."""
    candidates = [m for m in manifests if isinstance(m, dict) and isinstance(m.get("digest"), str)]
    for entry in candidates:
        platform = _platform(entry)
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry["digest"]
    for entry in candidates:
        if _platform(entry).get("os") != "unknown":
            return entry["digest"]
    return None


def _platform(entry: dict[str, Any]) -> dict[str, Any]:
    platform = entry.get("platform")
    return platform if isinstance(platform, dict) else {}


def parse_created(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # RFC 3339 with up to nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


CREATED_ANNOTATION = "org.opencontainers.image.created"
_PLATFORM_PART = re.compile(r"[a-z0-9_.]{1,32}")


def annotated_created(document: dict[str, Any]) -> datetime | None:
    """The OCI `org.opencontainers.image.created` annotation of a manifest or index, if it has one."""
    annotations = document.get("annotations")
    return parse_created(annotations.get(CREATED_ANNOTATION)) if isinstance(annotations, dict) else None


def platform_name(platform: dict[str, Any]) -> str | None:
    """os/architecture[/variant] of an index entry's `platform` or an image config; None if it states none."""
    os_name, arch, variant = platform.get("os"), platform.get("architecture"), platform.get("variant")
    if not (isinstance(os_name, str) and os_name and isinstance(arch, str) and arch):
        return None
    if os_name == "unknown":  # buildkit's attestation manifests: not an image anyone runs
        return None
    if isinstance(variant, str) and not variant.strip():
        variant = None
    if not all(_PLATFORM_PART.fullmatch(part) for part in (os_name, arch, variant or "v")):
        return None  # not a platform anyone can list in spec.platforms; a hostile answer is not stored
    name = f"{os_name}/{arch}"
    return name + (f"/{variant}" if isinstance(variant, str) and variant else "")


def index_platforms(manifests: list[Any]) -> list[str]:
    names = {platform_name(_platform(entry)) for entry in manifests[:1000] if isinstance(entry, dict)}
    return sorted(name for name in names if name is not None)
