"""A tag the registry lists a moment before it serves its manifest.

distribution writes a pushed tag's index link, then its current link: a tags/list in between names
the tag and a HEAD of it is 404. A scan woken by one push's webhook can land there during the next
push (seen in tests/ui as a pinned policy keeping its old digest). These tests stop the registry's
storage in that state, let the scan meet the 404, then finish the tag as distribution would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.registry import RegistryServer, start_registry

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "team/app"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with start_registry(tmp_path / "registry") as server:
        server.push_image(REPOSITORY, "1.0.0")
        yield server


def half_written(registry: RegistryServer, tag: str, created: datetime | None = None) -> tuple[Path, bytes]:
    """Push `tag`, then take its current link away: listed, not servable. The link and its content."""
    registry.push_image(REPOSITORY, tag, created=created)
    link = (registry.storage_root / "docker/registry/v2/repositories" / REPOSITORY
            / "_manifests/tags" / tag / "current/link")
    content = link.read_bytes()
    link.unlink()
    return link, content


def head_refusals(registry: RegistryServer, tag: str, method: str = "HEAD") -> int:
    """How many `method` requests for `tag`'s manifest the registry answered 404 (from its log)."""
    pattern = re.compile(rf'http\.request\.method={method} .*manifests/{re.escape(tag)}"? .*http\.response\.status=404')
    return sum(1 for line in registry.log_path.read_text(errors="replace").splitlines() if pattern.search(line))


def finish_after_refusal(registry: RegistryServer, tag: str, link: Path, content: bytes,
                         method: str = "HEAD") -> threading.Thread:
    """Write the current link back once the registry has refused a read of the tag."""
    def run() -> None:
        deadline = time.monotonic() + 60
        while head_refusals(registry, tag, method) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        link.write_bytes(content)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def scan(tmp_path: Path, registry: RegistryServer,
         policy: str = 'digestReflectionPolicy: Always\n  policy:\n    semver: {range: ">=1.0.0"}',
         ) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {{name: app, namespace: team}}
        spec:
          image: {registry.image(REPOSITORY)}
          interval: 1h
          insecure: true
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {{name: pinned, namespace: team}}
        spec:
          imageRepositoryRef: {{name: app}}
        """) + f"  {policy}\n")
    return subprocess.run([sys.executable, "-m", "imagebot", "scan", "-c", str(config), "--state-dir",
                           str(tmp_path / "state"), "--output", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_listed_tag_whose_manifest_comes_a_moment_later_is_selected_with_its_digest(
        tmp_path: Path, registry: RegistryServer) -> None:
    link, content = half_written(registry, "1.1.0")
    finisher = finish_after_refusal(registry, "1.1.0", link, content)

    result = scan(tmp_path, registry)
    finisher.join(5)

    assert head_refusals(registry, "1.1.0") >= 1, "the scan never met the half-written tag"
    assert result.returncode == 0, result.stdout + result.stderr
    (policy,) = json.loads(result.stdout)["policies"]
    assert policy["error"] is None
    assert policy["latest"]["tag"] == "1.1.0"
    assert policy["latest"]["digest"] == content.decode().strip()


def test_a_listed_tag_that_never_becomes_readable_fails_the_policy_and_says_so(
        tmp_path: Path, registry: RegistryServer) -> None:
    half_written(registry, "1.1.0")

    result = scan(tmp_path, registry)

    assert result.returncode == 1, result.stdout + result.stderr
    (policy,) = json.loads(result.stdout)["policies"]
    assert policy["latest"] is None
    assert "tag '1.1.0' not found (404)" in policy["error"]
    assert "the tag was listed, and was still not found after 4 tries" in policy["error"]
    assert head_refusals(registry, "1.1.0") == 4


def test_newest_build_reads_the_build_time_of_a_tag_listed_a_moment_early(
        tmp_path: Path, registry: RegistryServer) -> None:
    # Left unknown, the newer build would be passed over for 1.0.0: a silently older image.
    link, content = half_written(registry, "build-2", created=datetime(2030, 1, 1, tzinfo=UTC))
    finisher = finish_after_refusal(registry, "build-2", link, content, method="GET")

    result = scan(tmp_path, registry, "policy:\n    newestBuild: {}")
    finisher.join(5)

    assert head_refusals(registry, "build-2", method="GET") >= 1, "the scan never met the half-written tag"
    assert result.returncode == 0, result.stdout + result.stderr
    (policy,) = json.loads(result.stdout)["policies"]
    assert policy["latest"]["tag"] == "build-2", policy
