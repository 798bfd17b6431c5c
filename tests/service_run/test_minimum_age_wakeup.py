"""The service wakes up when a waiting tag comes of age and selects it from the stored tags: no rescan,
so it works with the registry gone."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from imagebot.service.metrics import Metrics
from imagebot.service.runtime import Runtime, ServiceOptions
from imagebot.service.serial import Trigger
from imagebot.store import Store
from tests.support.registry import start_registry


def test_a_waiting_tag_is_selected_when_it_comes_of_age_without_a_rescan(tmp_path: Path) -> None:
    with start_registry(tmp_path / "reg") as registry:
        registry.push_image("team/app", "1.0.0", created=datetime(2024, 1, 1, tzinfo=UTC))
        folder = tmp_path / "config"
        folder.mkdir()
        (folder / "c.yaml").write_text(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: team}}
spec: {{image: {registry.image("team/app")}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: team}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
  minimumAge: 2s
  platforms: [linux/amd64]
""")

        async def scenario() -> tuple[str, str | None, str, float]:
            with Store(tmp_path / "state") as store:
                runtime = Runtime(ServiceOptions(folder, None, tmp_path / "state"), store, Metrics())
                runtime.install(runtime.load())
                await runtime.scans.run("team/app", Trigger("startup"))
                first = runtime.status()["policies"][0]["latest"]["tag"]
                registry.push_image("team/app", "1.1.0")
                await runtime.scans.run("team/app", Trigger("interval"))
                waits = runtime.status()["policies"][0].get("waits")
                registry.stop()  # from here on, only the stored tags and facts are there
                started = time.monotonic()
                while runtime.status()["policies"][0]["latest"]["tag"] != "1.1.0" and time.monotonic() - started < 10:
                    await asyncio.sleep(0.05)
                took = time.monotonic() - started
                final = runtime.status()["policies"][0]["latest"]["tag"]
                await runtime.shutdown(timeout=5)
                return first, waits, final, took

        first, waits, final, took = asyncio.run(scenario())
    assert first == "1.0.0"
    assert waits is not None and waits.startswith("1.1.0 waits until ") and waits.endswith("(minimumAge 2s)")
    assert final == "1.1.0" and took < 5
