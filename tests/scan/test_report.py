"""ScanReport's repr stays short however many repositories it holds (asyncio.run formats it on the way out)."""

from __future__ import annotations

import asyncio

from imagebot.config.models import ImagePolicy, ImageRepository
from imagebot.scan import LatestImage, PolicyResult, RepositoryResult, ScanReport


def report(n: int) -> ScanReport:
    done = ScanReport(requests=n, seconds=1.5)
    for i in range(n):
        meta = {"apiVersion": "image.toolkit.fluxcd.io/v1", "metadata": {"name": f"a{i}"}}
        repo = ImageRepository.model_validate({**meta, "spec": {"image": f"ghcr.io/acme/a{i}", "interval": "1h"}})
        policy = ImagePolicy.model_validate({**meta, "spec": {"imageRepositoryRef": {"name": f"a{i}"},
                                                              "policy": {"semver": {"range": ">=1"}}}})
        done.repositories.append(RepositoryResult(repo, repo.spec.image, 500))
        done.policies.append(PolicyResult(policy, LatestImage(repo.spec.image, "1.0.0")))
    return done


def test_the_repr_is_a_summary() -> None:
    assert repr(report(300)) == "ScanReport(300 repositories, 300 policies, 300 requests, 1.500 s)"


def test_asyncio_run_returns_a_large_report_without_formatting_it() -> None:
    calls = 0
    original = RepositoryResult.__repr__

    def counted(self: RepositoryResult) -> str:
        nonlocal calls
        calls += 1
        return original(self)

    RepositoryResult.__repr__ = counted  # type: ignore[method-assign]
    try:
        async def scan() -> ScanReport:
            return report(50)

        assert len(asyncio.run(scan()).repositories) == 50
    finally:
        RepositoryResult.__repr__ = original  # type: ignore[method-assign]
    assert calls == 0
