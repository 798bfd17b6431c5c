"""At start-up the service scans every repository once, a few at a time, so that the scans its
schedule asks for meanwhile are not queued behind all of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from imagebot.service.metrics import Metrics
from imagebot.service.runtime import STARTUP_SCANS_PER_HOST_SLOT, Runtime, ServiceOptions
from imagebot.store import Store
from tests.support.registry import start_registry

REPOSITORIES = 40


def test_first_scans_go_a_few_at_a_time_and_a_scheduled_scan_is_not_held_behind_them(tmp_path: Path) -> None:
    with start_registry(tmp_path / "reg") as registry:
        registry.push_image("team/app", "1.0.0")
        folder = tmp_path / "config"
        folder.mkdir()
        (folder / "c.yaml").write_text("---\n".join(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app{i}, namespace: team}}
spec: {{image: {registry.image("team/app")}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app{i}, namespace: team}}
spec:
  imageRepositoryRef: {{name: app{i}}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
""" for i in range(REPOSITORIES)))

        async def scenario() -> tuple[int, int, int, dict[str, object]]:
            with Store(tmp_path / "state") as store:
                metrics = Metrics()
                runtime = Runtime(ServiceOptions(folder, None, tmp_path / "state", registry_concurrency=1),
                                  store, metrics)
                runtime.install(runtime.load())
                most = 0
                runtime.start()
                # the last repository's schedule fires while the first scans are under way
                scheduled = asyncio.ensure_future(runtime.scheduled_scan(f"team/app{REPOSITORIES - 1}"))
                while not all(r["lastScan"] for r in runtime.status()["repositories"]):  # type: ignore[index]
                    most = max(most, len(runtime.scans.running()))
                    await asyncio.sleep(0.001)
                await scheduled
                scans = sum(int(s.value) for s in metrics.scans.collect()[0].samples if s.name.endswith("_total"))
                status = runtime.status()
                await runtime.shutdown(timeout=5)
                return most, scans, len(runtime.scans.running()), status

        most, scans, left, status = asyncio.run(scenario())
    assert 1 < most <= STARTUP_SCANS_PER_HOST_SLOT + 1  # the scheduled scan is the one beyond them
    assert scans == REPOSITORIES  # every repository once: the scheduled scan was its first, not a second
    assert all(p["latest"]["tag"] == "1.0.0" for p in status["policies"])  # type: ignore[index, union-attr]
    assert left == 0
