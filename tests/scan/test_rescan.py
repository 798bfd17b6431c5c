"""A service's Scanner scans the same repositories again and again: an unchanged listing costs it
little, and every change (a new tag, another process writing the store) still lands in full."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagebot.config import SecretStore, load_config
from imagebot.registry import RegistryClient
from imagebot.scan import Scanner, ScanReport
from imagebot.store import Store
from tests.support.registry import RegistryServer, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("reg")) as server:
        yield server


def write_config(folder: Path, registry: RegistryServer, repository: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "c.yaml").write_text(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: team}}
spec: {{image: {registry.image(repository)}, interval: 1m, insecure: true, exclusionList: ['^1\\.9\\.']}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: team}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{semver: {{range: '>=1.0.0'}}}}
""")
    return folder


def rescan(scanner: Scanner) -> ScanReport:
    async def run() -> ScanReport:
        async with RegistryClient() as client:
            return await scanner.scan(client, repositories=["team/app"])

    return asyncio.run(run())


def test_an_unchanged_listing_is_recorded_and_a_new_tag_selected(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "rescan/app"
    registry.push_image(repo, "1.0.0")
    registry.seed_tags(repo, ["1.1.0", "1.9.0"])  # 1.9.0: left out by the exclusionList
    image = registry.image(repo)
    with Store(tmp_path / "state") as store:
        scanner = Scanner(load_config(write_config(tmp_path / "cfg", registry, repo)).raise_for_errors(),
                          SecretStore(None), store)
        first = rescan(scanner)
        [result] = first.policies
        assert (result.latest.tag, result.changed) == ("1.1.0", True)
        stored = store.tags(image)
        assert stored is not None and sorted(stored.tags) == ["1.0.0", "1.1.0", "1.9.0"]

        second = rescan(scanner)
        [result] = second.policies
        assert (result.latest.tag, result.changed, result.error) == ("1.1.0", False, None)
        assert second.repositories[0].tags == 2  # after the exclusionList, as the first scan said
        again = store.tags(image)
        assert again is not None and again.scanned_at > stored.scanned_at and again.revision == stored.revision

        registry.seed_tags(repo, ["1.2.0"])
        third = rescan(scanner)
        [result] = third.policies
        assert (result.latest.tag, result.changed) == ("1.2.0", True)
        assert "1.2.0" in store.tags(image).tags
        assert "1.2.0" in store.first_seen(image)  # minimumAge counts from this scan
        assert store.policy_result("team/app").tag == "1.2.0"


def test_what_another_process_wrote_meanwhile_is_put_right(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "rescan/other"
    registry.push_image(repo, "2.0.0")
    registry.seed_tags(repo, ["2.1.0"])
    image = registry.image(repo)
    with Store(tmp_path / "state") as store:
        scanner = Scanner(load_config(write_config(tmp_path / "cfg", registry, repo)).raise_for_errors(),
                          SecretStore(None), store)
        rescan(scanner)
        # Another process (a CLI scan against an older mirror, say) stores other tags and another result.
        with Store(tmp_path / "state") as other:
            other.save_tags(image, ["2.0.0"])
            other.save_policy_result("team/app", image, "2.0.0", None)

        [result] = rescan(scanner).policies
        assert (result.latest.tag, result.changed) == ("2.1.0", True)  # differs from what is stored now
        stored = store.tags(image)
        assert stored is not None and sorted(stored.tags) == ["2.0.0", "2.1.0"]
        assert store.policy_result("team/app").tag == "2.1.0"
