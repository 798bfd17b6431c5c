"""A repository's policies select as soon as its listing is in, while other listings are still under way;
the report keeps the config's order however the answers arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagebot.config import SecretStore, load_config
from imagebot.registry import RegistryClient
from imagebot.scan import Scanner, ScanReport
from imagebot.store import Store
from tests.support.registry import RegistryServer, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("reg")) as server:
        for name in ("slow", "fast"):
            server.push_image(f"overlap/{name}", "1.0.0")
            server.seed_tags(f"overlap/{name}", ["1.0.0", "1.2.0", "1.10.0"])
        yield server


def write_config(folder: Path, registry: RegistryServer) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for name in ("slow", "fast"):  # the slow one first: the report must keep this order
        docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: {name}, namespace: team}}
spec: {{image: {registry.image(f"overlap/{name}")}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: {name}, namespace: team}}
spec: {{imageRepositoryRef: {{name: {name}}}, policy: {{semver: {{range: ">=1.0.0"}}}}}}
""")
    (folder / "c.yaml").write_text("---\n".join(docs))
    return folder


class HeldBack(RegistryClient):
    """A real client whose listing of overlap/slow waits until the fast repository's policy result is stored."""

    def __init__(self, store: Store, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store

    async def list_tags(self, ref: Any, options: Any) -> list[str]:
        if ref.repository.endswith("/slow"):
            for _ in range(500):  # 5 s at most; a scan that selects only after every listing never gets there
                if self.store.policy_result("team/fast") is not None:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the fast repository's policy was not selected while slow was listing")
        return await super().list_tags(ref, options)


def test_policies_select_while_other_listings_are_under_way(registry: RegistryServer, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "cfg", registry)).raise_for_errors()

    async def run() -> ScanReport:
        with Store(tmp_path / "state") as store:
            async with HeldBack(store) as client:
                return await Scanner(config, SecretStore(None), store).scan(client)

    report = asyncio.run(run())
    assert [r.repository.key for r in report.repositories] == ["team/slow", "team/fast"]
    assert [(p.policy.key, p.error, p.latest and p.latest.tag) for p in report.policies] == [
        ("team/slow", None, "1.10.0"), ("team/fast", None, "1.10.0")]
