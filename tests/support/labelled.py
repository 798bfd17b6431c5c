"""Images carrying OCI labels (in the config) and annotations (on the manifest or an index over it),
pushed through the Distribution API of a real registry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from tests.support.registry import RegistryServer


def push_labelled(registry: RegistryServer, repository: str, tag: str, *, labels: Mapping[str, str] | None = None,
                  annotations: Mapping[str, str] | None = None, index: bool = False) -> str:
    """An OCI image whose config carries `labels` and whose manifest (or, with `index`, the index
    over it) carries `annotations`."""
    layer = tag.encode()
    layer_digest = registry.push_blob(repository, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": dict(labels or {})},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}},
                        sort_keys=True).encode()
    config_digest = registry.push_blob(repository, config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                           "digest": config_digest},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(layer),
                            "digest": layer_digest}]}
    if not index:
        if annotations:
            manifest["annotations"] = dict(annotations)
        return registry.put_manifest(repository, tag, manifest)
    child = registry.put_manifest(repository, None, manifest)
    size = len(json.dumps(manifest, indent=2).encode())
    return registry.put_manifest(repository, tag, {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": manifest["mediaType"], "digest": child, "size": size,
                       "platform": {"os": "linux", "architecture": "amd64"}}],
        "annotations": dict(annotations or {})})
