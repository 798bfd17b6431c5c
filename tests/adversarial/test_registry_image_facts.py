"""Manifests that lie about build times and platforms: nothing hostile is stored or believed.

A real registry stores what it is given: garbage `created` annotations, platforms no one can list,
oversized variants. Under newestBuild and platforms the scan falls back to the config's time, ignores
the bogus platforms, and stays within its limits.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from imagebot.config import SecretStore, load_config
from imagebot.registry import RegistryClient
from imagebot.scan import Scanner
from imagebot.store import Store
from tests.support.registry import start_registry


def test_lying_annotations_and_platforms(tmp_path: Path) -> None:
    with start_registry(tmp_path / "reg") as registry:
        repo = "hostile/app"
        # an annotation that is no time: the config's created (2024) stands
        registry.push_image(repo, "main-a", flavour="oci", created=datetime(2024, 5, 1, tzinfo=UTC),
                            annotations={"org.opencontainers.image.created": "yesterday" * 1000})
        child = registry.push_image(repo, None, flavour="oci", created=datetime(2024, 1, 1, tzinfo=UTC))
        body = registry._manifest_bytes(repo, child.digest)
        entries = [{"mediaType": child.media_type, "size": len(body), "digest": child.digest,
                    "platform": platform} for platform in (
            {"os": "linux", "architecture": "amd64", "variant": "v" * 5000},
            {"os": "LINUX/../x", "architecture": "arm64"},
            {"os": "unknown", "architecture": "unknown"},
        )]
        # an index claiming the newest build, whose platforms are all bogus
        registry.put_manifest(repo, "main-b", {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries,
            "annotations": {"org.opencontainers.image.created": "2099-01-01T00:00:00Z"}})
        folder = tmp_path / "cfg"
        folder.mkdir()
        (folder / "c.yaml").write_text(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: team}}
spec: {{image: {registry.image(repo)}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: team}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{newestBuild: {{}}}}
  platforms: [linux/amd64]
""")
        config = load_config(folder).raise_for_errors()

        async def run():
            with Store(tmp_path / "state") as store:
                async with RegistryClient() as client:
                    return await Scanner(config, SecretStore(None), store).scan(client)

        report = asyncio.run(run())
    [policy] = report.policies
    assert policy.error is None, policy.error
    assert policy.latest is not None and policy.latest.tag == "main-a"  # main-b serves no listable platform
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    stored = [json.loads(p) for (p,) in db.execute("SELECT platforms FROM image_facts") if p is not None]
    db.close()
    assert sorted(map(tuple, stored)) == [(), ("linux/amd64",)]  # the bogus ones were never stored
