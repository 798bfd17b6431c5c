"""Pushing to a real registry from async tests, without blocking the loop that serves its notifications."""

from __future__ import annotations

import hashlib
import json

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def push_image(client: httpx.AsyncClient, repository: str, tag: str) -> str:
    """Push a one-layer OCI image through the Distribution API; return the manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    layer = f"layer of {repository}:{tag}".encode()
    descriptors = []
    for blob, media_type in ((config.encode(), "application/vnd.oci.image.config.v1+json"),
                             (layer, "application/vnd.oci.image.layer.v1.tar+gzip")):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        start = await client.post(f"/v2/{repository}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["location"]  # carries a _state query: add to it, httpx params would replace it
        location += ("&" if "?" in location else "?") + "digest=" + digest
        done = await client.put(location, content=blob, headers={"Content-Type": "application/octet-stream"})
        done.raise_for_status()
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(blob)})
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptors[0], "layers": descriptors[1:]}
    ).encode()
    r = await client.put(f"/v2/{repository}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    r.raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()
