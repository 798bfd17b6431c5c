"""What a tag's manifest and image config say: when the image was built and which platforms it serves
(newestBuild, minimumAge and platforms read these). Mixed into RegistryClient, which sends the requests."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from imagebot.registry import _parse
from imagebot.registry._call import Call, fail, parsed
from imagebot.registry._errors import InvalidResponse, RegistryError
from imagebot.registry._media import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    annotated_created,
    index_platforms,
    parse_created,
    pick_platform,
    platform_name,
)
from imagebot.registry._options import AccessOptions
from imagebot.registry.reference import ImageReference

MAX_DOCUMENT = 8 * 1024 * 1024  # a page of tags, a config blob: refuse absurd answers
MAX_MANIFEST = 4 * 1024 * 1024  # distribution refuses to store larger manifests


@dataclass(frozen=True)
class ImageFacts:
    digest: str
    created: datetime | None
    platforms: list[str] | None  # None: not read


class ImageReads:
    """RegistryClient's reads of manifests and image configs."""

    _call: Callable[..., AbstractAsyncContextManager[Call]]  # RegistryClient's
    _fetch: Callable[..., Awaitable[httpx.Response]]
    _created: dict[str, datetime | None]
    # config digest -> created_at, platform (a future: concurrent reads of one config share a request)
    _configs_read: dict[str, asyncio.Future[dict[str, Any]]]

    async def created(self, ref: ImageReference, tag: str,
                      options: AccessOptions | None = None) -> datetime | None:
        """When the image `tag` points to was built (its config's `created`), or None if not recorded.

        For a multi-arch image this is the linux/amd64 image's time (else the first platform's).
        """
        async with self._call(ref, options, tag) as call:
            manifest = await self._manifest(call, tag, f"tag {tag!r}")
            if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
                entries = manifest.get("manifests")
                child = pick_platform(entries) if isinstance(entries, list) else None
                if child is None:
                    fail(InvalidResponse, call, f"tag {tag!r}: the image index lists no manifests")
                child = parsed(call, _parse.digest, child, f"tag {tag!r} (index entry)")
                manifest = await self._manifest(call, child, f"tag {tag!r} (platform manifest {child})")
            config = manifest.get("config")
            digest = config.get("digest") if isinstance(config, dict) else None
            if not isinstance(digest, str) or not digest:
                return None  # schema1 or an artifact without a config: no creation time to read
            digest = parsed(call, _parse.digest, digest, f"tag {tag!r} (config)")  # it goes into a URL
            if digest not in self._created:
                response = await self._fetch(call, "GET", f"{call.base}/blobs/{digest}",
                                             what=f"config blob of tag {tag!r}", follow_redirects=True)
                document = parsed(call, _parse.json_object, response.content, f"config blob of tag {tag!r}")
                self._created[digest] = parse_created(document.get("created"))
            return self._created[digest]

    async def image_facts(self, ref: ImageReference, tag: str, options: AccessOptions | None = None,
                          *, platforms: bool = False) -> ImageFacts:
        """The digest `tag` points to, when its image was built and (with `platforms`) which platforms it serves.

        Build time: the `org.opencontainers.image.created` annotation of the manifest (or index), else
        the image config's `created` (for an index, of its linux/amd64 image, else the first). Platforms:
        an index's entries, or a single manifest's config os/architecture/variant. One manifest request,
        plus a config read only when the annotation is missing or platforms are asked for.
        """
        async with self._call(ref, options, tag) as call:
            what = f"tag {tag!r}"
            response = await self._fetch(call, "GET", f"{call.base}/manifests/{tag}",
                                         headers={"Accept": MANIFEST_ACCEPT}, what=what, max_bytes=MAX_MANIFEST)
            digest = response.headers.get("Docker-Content-Digest", "").strip() \
                or "sha256:" + hashlib.sha256(response.content).hexdigest()
            digest = parsed(call, _parse.digest, digest, what)
            manifest = parsed(call, _parse.manifest, response.content,
                                    response.headers.get("Content-Type"), what)
            created = annotated_created(manifest)
            served: list[str] | None = None
            if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
                entries = manifest.get("manifests")
                entries = entries if isinstance(entries, list) else []
                served = index_platforms(entries)
                if created is None:
                    child = pick_platform(entries)
                    if child is None:
                        return ImageFacts(digest, None, served)
                    child = parsed(call, _parse.digest, child, f"{what} (index entry)")
                    manifest = await self._manifest(call, child, f"{what} (platform manifest {child})")
                    created = annotated_created(manifest)
                    if created is None:
                        created = (await self._config(call, manifest, what)).get("created_at")
                return ImageFacts(digest, created, served)
            if created is None or platforms:
                config = await self._config(call, manifest, what)
                created = created or config.get("created_at")
                served = [config["platform"]] if config.get("platform") else []
            return ImageFacts(digest, created, served if platforms else None)

    async def _config(self, call: Call, manifest: dict[str, Any], what: str) -> dict[str, Any]:
        """`created_at` and `platform` of the image config a manifest names (cached per config digest)."""
        config = manifest.get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(digest, str) or not digest:
            return {}  # schema1 or an artifact without a config
        digest = parsed(call, _parse.digest, digest, f"{what} (config)")  # it goes into a URL
        pending = self._configs_read.get(digest)
        if pending is not None:  # read (or being read) for another tag: many tags share one image
            return await asyncio.shield(pending)
        pending = self._configs_read[digest] = asyncio.get_running_loop().create_future()
        try:
            response = await self._fetch(call, "GET", f"{call.base}/blobs/{digest}", what=f"config blob of {what}",
                                         follow_redirects=True, max_bytes=MAX_DOCUMENT)
            document = parsed(call, _parse.json_object, response.content, f"config blob of {what}")
        except BaseException as err:
            del self._configs_read[digest]  # the next tag tries again
            pending.set_exception(err if isinstance(err, Exception) else RegistryError(str(err)))
            pending.exception()  # retrieved: a failure nobody else awaits is not logged as unhandled
            raise
        pending.set_result({"created_at": parse_created(document.get("created")), "platform": platform_name(document)})
        return pending.result()

    async def _manifest(self, call: Call, reference: str, what: str) -> dict[str, Any]:
        response = await self._fetch(call, "GET", f"{call.base}/manifests/{reference}",
                                     headers={"Accept": MANIFEST_ACCEPT}, what=what, max_bytes=MAX_MANIFEST)
        return parsed(call, _parse.manifest, response.content, response.headers.get("Content-Type"), what)
