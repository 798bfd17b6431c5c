"""Benchmark: requests made by a first and a second scan of a 10,000-tag repository under newestBuild,
and the wall time of the first.

10,000 tags point at 100 distinct images (100 tags each, built a minute apart), written straight into
the registry's storage as TESTING.md describes. Two runs: the default candidate cap
(selection.NEWEST_BUILD_CAP) and a cap of every tag (every build time read once).

    .venv/bin/python bench/newest_build.py [--tags 10000] [--images 100]

Results: bench/results/newest_build.txt
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imagebot.config import SecretStore, load_config  # noqa: E402
from imagebot.registry import RegistryClient  # noqa: E402
from imagebot.registry._media import MANIFEST_ACCEPT  # noqa: E402
from imagebot.scan import Scanner, ScanReport  # noqa: E402
from imagebot.selection import NEWEST_BUILD_CAP  # noqa: E402
from imagebot.store import Store  # noqa: E402
from tests.support.registry import RegistryServer, start_registry  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed(registry: RegistryServer, repository: str, tags: int, images: int) -> list[str]:
    per = tags // images
    names = []
    for i in range(images):
        image = registry.push_image(repository, None, created=T0 + timedelta(minutes=i))
        batch = [f"main-{i * per + j:05d}" for j in range(per)]
        registry.seed_tags(repository, batch, image.digest)
        names.extend(batch)
    return names


def write_config(folder: Path, host: str, repository: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "c.yaml").write_text(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: bench}}
spec: {{image: {host}/{repository}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: bench}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{newestBuild: {{}}}}
  filterTags: {{pattern: '^main-'}}
""")
    return folder


def scan(folder: Path, state: Path, cap: int | None) -> tuple[ScanReport, float, dict[str, int]]:
    config = load_config(folder).raise_for_errors()

    async def run() -> tuple[ScanReport, float, dict[str, int]]:
        with Store(state) as store:
            async with RegistryClient() as client:
                scanner = Scanner(config, SecretStore(None), store)
                scanner.newest_build_cap = cap
                started = time.perf_counter()
                report = await scanner.scan(client)
                statuses = {f"{host} {status}": n for (host, status), n in client.stats.by_host_status.items()}
                return report, time.perf_counter() - started, statuses

    return asyncio.run(run())


def raw_manifests(host: str, repository: str, tags: list[str]) -> float:
    """The floor: the same manifest GETs with plain httpx, 8 in flight (the client's default per host)."""
    import httpx

    async def run() -> float:
        limit = asyncio.Semaphore(8)
        async with httpx.AsyncClient(base_url=f"http://{host}", trust_env=False) as client:
            async def one(tag: str) -> None:
                async with limit:
                    answer = await client.get(f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
                    answer.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(one(tag) for tag in tags))
            return time.perf_counter() - started

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "newest_build.txt")
    args = parser.parse_args()
    lines = [f"imagebot newestBuild benchmark ({time.strftime('%Y-%m-%d %H:%M:%S')}, 2 cores shared)"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with start_registry(work / "registry") as registry:
            seeding = time.perf_counter()
            names = seed(registry, "bench/app", args.tags, args.images)
            lines.append(f"setup: {len(names)} tags on {args.images} distinct images (docker v2 manifests, config "
                         f"`created` a minute apart, no annotation), seeded in {time.perf_counter() - seeding:.1f}s")
            folder = write_config(work / "config", registry.host, "bench/app")
            floor = raw_manifests(registry.host, "bench/app", names[-NEWEST_BUILD_CAP:])
            lines.append(f"floor: {NEWEST_BUILD_CAP} manifest GETs, plain httpx, 8 in flight: {floor * 1000:.0f} ms")
            for label, cap in (("default cap", None), ("cap = every tag", len(names))):
                state = work / f"state-{cap}"
                first, first_s, statuses = scan(folder, state, cap)
                second, second_s, _ = scan(folder, state, cap)
                [p1], [p2] = first.policies, second.policies
                assert p1.latest is not None and p2.latest is not None
                assert p1.latest.tag == p2.latest.tag == names[-1], (p1, p2)
                effective = cap or NEWEST_BUILD_CAP
                lines.append(
                    f"{label} ({effective}): first scan {first.requests} requests in {first_s * 1000:.0f} ms "
                    f"(by status {statuses}); second scan {second.requests} requests in {second_s * 1000:.0f} ms; "
                    f"selected {p1.latest.tag}" + (f"; warned: {p1.note}" if p1.note else ""))
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
