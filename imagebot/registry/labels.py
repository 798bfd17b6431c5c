"""An image's labels and annotations: the config's `Labels` and the manifest's `annotations`
(an index's, then its platform manifest's), merged in that order of precedence, lowest first.

Kept apart from the client's scan path (tags, digests, `created`): release notes read these for the
images a delivery changes, a handful per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagebot.registry import _parse
from imagebot.registry._errors import InvalidResponse
from imagebot.registry._media import INDEX_TYPES, pick_platform
from imagebot.registry._options import AccessOptions
from imagebot.registry.reference import ImageReference

if TYPE_CHECKING:
    from imagebot.registry._client import RegistryClient

MAX_LABELS = 512  # an image with more keeps the first ones
MAX_CONFIG = 4 * 1024 * 1024  # a config blob is a few KiB; this bounds a hostile one
MAX_KEY, MAX_VALUE = 256, 8192  # longer keys and values are dropped, never cut


def _strings(mapping: Any, into: dict[str, str]) -> None:
    if not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        if len(into) >= MAX_LABELS and key not in into:
            return
        if isinstance(key, str) and isinstance(value, str) and len(key) <= MAX_KEY and len(value) <= MAX_VALUE:
            into[key] = value


async def image_labels(client: RegistryClient, ref: ImageReference, tag: str,
                       options: AccessOptions | None = None) -> dict[str, str]:
    """Labels and annotations of the image `tag` (for an index: linux/amd64, else the first platform).

    Raises the client's RegistryError when the registry cannot be read."""
    from imagebot.registry._call import parsed  # with the client: httpx is loaded by then

    config_labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    async with client._call(ref, options, tag) as call:
        manifest = await client._manifest(call, tag, f"tag {tag!r}")
        index_annotations: dict[str, str] = {}
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            _strings(manifest.get("annotations"), index_annotations)
            entries = manifest.get("manifests")
            child = pick_platform(entries) if isinstance(entries, list) else None
            if child is None:
                raise InvalidResponse(f"{ref.name}: tag {tag!r}: the image index lists no manifests",
                                      repository=ref.name, host=ref.api_host)
            child = parsed(call, _parse.digest, child, f"tag {tag!r} (index entry)")
            manifest = await client._manifest(call, child, f"tag {tag!r} (platform manifest {child})")
        _strings(manifest.get("annotations"), annotations)
        config = manifest.get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        if isinstance(digest, str) and digest:
            digest = parsed(call, _parse.digest, digest, f"tag {tag!r} (config)")  # it goes into a URL
            response = await client._fetch(call, "GET", f"{call.base}/blobs/{digest}",
                                           what=f"config blob of tag {tag!r}", follow_redirects=True,
                                           max_bytes=MAX_CONFIG)
            document = parsed(call, _parse.json_object, response.content, f"config blob of tag {tag!r}")
            inner = document.get("config")
            _strings(inner.get("Labels") if isinstance(inner, dict) else None, config_labels)
    merged: dict[str, str] = {}
    for layer in (config_labels, index_annotations, annotations):
        _strings(layer, merged)
    return merged
