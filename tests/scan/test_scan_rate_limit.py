"""A scan over many repositories of a registry that keeps answering 429: one error, few requests."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from imagebot.config import SecretStore, load_config
from imagebot.registry import RegistryClient
from imagebot.scan import Scanner
from imagebot.store import Store
from tests.support.fakeregistry import FakeRegistry, Fault, fake_registry  # noqa: F401


def test_rate_limited_registry_is_reported_once_and_others_still_scan(
    fake_registry: FakeRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    names = [f"team/app{i}" for i in range(20)]
    for name in names:
        fake_registry.add(name, ["1.0.0"])
    fake_registry.host_fault = Fault("rate_limit", retry_after="0")
    other = FakeRegistry().start()
    other.add("elsewhere/app", ["2.0.0", "2.1.0"])
    docs = [f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: r{i}}}
spec: {{image: {fake_registry.host}/{name}, interval: 1h, insecure: true}}
""" for i, name in enumerate(names)]
    docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: other}}
spec: {{image: {other.host}/elsewhere/app, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: other}}
spec:
  imageRepositoryRef: {{name: other}}
  policy: {{semver: {{range: "2.x"}}}}
""")
    (tmp_path / "cfg.yaml").write_text("---\n".join(docs))
    config = load_config(tmp_path / "cfg.yaml").raise_for_errors()
    caplog.set_level(logging.WARNING)

    async def scan():
        with Store(tmp_path / "state") as store:
            async with RegistryClient(retries=2, concurrency_per_host=4) as client:
                return await Scanner(config, SecretStore(None), store).scan(client)

    try:
        report = asyncio.run(scan())
    finally:
        other.close()

    limited = [r for r in report.repositories if r.repository.metadata.name != "other"]
    assert all(r.error_kind == "rate_limit" and "is rate limiting requests (429" in (r.error or "") for r in limited)
    assert len(fake_registry.seen()) <= 4 + 2  # in flight at the first 429, then one probe per retry
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "429" in warnings[0], warnings  # one error for the host, not one per repository
    [policy] = report.policies
    assert policy.latest is not None and policy.latest.tag == "2.1.0"
