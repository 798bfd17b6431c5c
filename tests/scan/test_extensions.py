"""newestBuild, minimumAge and platforms against a real registry, with an injected clock for time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagebot.config import SecretStore, load_config
from imagebot.registry import RegistryClient
from imagebot.scan import Scanner, ScanReport
from imagebot.store import Store
from tests.support.registry import RegistryServer, start_registry

CREATED = "org.opencontainers.image.created"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("reg")) as server:
        yield server


def config(folder: Path, registry: RegistryServer, repository: str, policy: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "c.yaml").write_text(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: team}}
spec: {{image: {registry.image(repository)}, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: team}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {policy}
{extra}""")
    return folder


def scan(folder: Path, state: Path, clock: Callable[[], datetime] = lambda: T0,
         cap: int | None = None) -> ScanReport:
    loaded = load_config(folder).raise_for_errors()

    async def run() -> ScanReport:
        with Store(state) as store:
            async with RegistryClient() as client:
                scanner = Scanner(loaded, SecretStore(None), store, clock=clock)
                scanner.newest_build_cap = cap
                return await scanner.scan(client)

    return asyncio.run(run())


def only(report: ScanReport):
    [policy] = report.policies
    return policy


def test_newest_build_reads_annotation_then_config_and_caches_per_digest(registry: RegistryServer,
                                                                        tmp_path: Path) -> None:
    repo = "nb/app"
    day = timedelta(days=1)
    registry.push_image(repo, "main-aaa", created=T0 - 3 * day)
    # an old config but a newer annotation: the annotation wins
    registry.push_image(repo, "main-bbb", flavour="oci", created=T0 - 9 * day,
                        annotations={CREATED: (T0 - day).isoformat()})
    registry.push_image(repo, "main-ccc", created=T0 - 2 * day, config_created=False)  # no build time at all
    # an index annotated as built last: one manifest read, no config read
    registry.push_index(repo, "main-ddd", created=T0 - 20 * day, annotations={CREATED: "2026-03-01T11:00:00Z"})
    registry.push_image(repo, "latest", created=T0)  # newest, but filterTags leaves it out
    folder = config(tmp_path / "cfg", registry, repo, "{newestBuild: {}}", "  filterTags: {pattern: '^main-'}")

    first = scan(folder, tmp_path / "state")
    policy = only(first)
    assert policy.error is None and policy.latest is not None
    assert policy.latest.tag == "main-ddd"
    # list + (manifest + config) for aaa and ccc + manifest for bbb (annotated) + manifest for ddd
    assert first.requests == 1 + 2 + 2 + 1 + 1

    second = scan(folder, tmp_path / "state")
    assert only(second).latest.tag == "main-ddd"
    assert second.requests == 1  # the tag list only: every build time came from the store

    # a new build is read, and only it
    registry.push_image(repo, "main-eee", created=T0 + timedelta(minutes=5))
    third = scan(folder, tmp_path / "state")
    assert only(third).latest.tag == "main-eee"
    assert third.requests == 1 + 2


def test_newest_build_ties_go_to_the_greatest_tag(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "nb/tie"
    for tag in ("sha-1f00", "sha-9a00", "sha-3c00"):
        registry.push_image(repo, tag, created=T0)
    registry.push_image(repo, "sha-0000", created=T0 - timedelta(seconds=1))
    report = scan(config(tmp_path / "cfg", registry, repo, "{newestBuild: {}}"), tmp_path / "state")
    assert only(report).latest.tag == "sha-9a00"


def test_newest_build_cap_reads_the_newest_candidates_and_warns(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "nb/cap"
    registry.push_image(repo, "b-001", created=T0)
    registry.seed_tags(repo, [f"b-{n:03d}" for n in range(2, 8)])  # the same image under 7 tags
    folder = config(tmp_path / "cfg", registry, repo, "{newestBuild: {}}")

    first = scan(folder, tmp_path / "state", cap=3)
    policy = only(first)
    assert policy.latest.tag == "b-007"  # equal times: the greatest of the 3 read
    assert policy.note is not None
    assert "7 tags match" in policy.note and "the newest 3" in policy.note and "left 4 without" in policy.note
    # list + 3 manifests + 1 config (the same config blob for all, read once per scan)
    assert first.requests == 1 + 3 + 1
    assert first.to_json()["policies"][0]["note"] == policy.note

    second = scan(folder, tmp_path / "state", cap=3)
    assert second.requests == 1  # the same newest 3, all cached: no manifest requests
    assert only(second).latest.tag == "b-007" and only(second).note == policy.note  # still warned

    # a tag pushed later is first seen later: it is among the newest, whatever its name
    registry.seed_tags(repo, ["a-late"])
    third = scan(folder, tmp_path / "state", clock=lambda: T0 + timedelta(minutes=1), cap=3)
    assert third.requests == 1 + 1 + 1  # its manifest and (new scan, new client) the config
    assert only(third).latest.tag == "b-007"  # same build time, and b-007 > a-late


def test_minimum_age_waits_for_a_new_tag_and_says_until_when(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "age/app"
    registry.push_image(repo, "1.0.0", created=T0 - timedelta(days=30))
    registry.push_image(repo, "1.1.0", created=T0 - timedelta(hours=1))  # there at the first scan, built 1h ago
    folder = config(tmp_path / "cfg", registry, repo, "{semver: {range: '>=1.0.0'}}", "  minimumAge: 72h")
    state = tmp_path / "state"

    first = only(scan(folder, state))
    assert first.latest.tag == "1.0.0"
    assert first.waits == "1.1.0 waits until 2026-03-04T11:00:00Z (minimumAge 72h)"
    assert first.wake_at == T0 - timedelta(hours=1) + timedelta(hours=72)

    # 1.5.0 appears a day later: first seen then, whatever its build time says
    registry.push_image(repo, "1.5.0", created=T0 - timedelta(days=10))
    t1 = T0 + timedelta(days=1)
    second = only(scan(folder, state, clock=lambda: t1))
    assert second.latest.tag == "1.0.0"
    assert second.waits == "1.5.0 waits until 2026-03-05T12:00:00Z (minimumAge 72h)"
    assert [j.tag for j in second.waiting] == ["1.5.0", "1.1.0"]
    assert second.wake_at == T0 + timedelta(hours=71)  # 1.1.0 comes of age first

    at_wake = only(scan(folder, state, clock=lambda: T0 + timedelta(hours=71)))
    assert at_wake.latest.tag == "1.1.0" and at_wake.waits.startswith("1.5.0 waits until")

    later = only(scan(folder, state, clock=lambda: t1 + timedelta(hours=72)))
    assert later.latest.tag == "1.5.0" and later.waiting == () and later.wake_at is None


def test_minimum_age_with_nothing_old_enough_is_an_error_naming_the_wait(registry: RegistryServer,
                                                                       tmp_path: Path) -> None:
    repo = "age/fresh"
    registry.push_image(repo, "2.0.0", created=T0 - timedelta(hours=2))
    folder = config(tmp_path / "cfg", registry, repo, "{semver: {range: '2.x'}}", "  minimumAge: 1h30m")
    report = only(scan(folder, tmp_path / "state", clock=lambda: T0 - timedelta(hours=1)))
    assert report.latest is None
    assert "2.0.0, waits until 2026-03-01T11:30:00Z (minimumAge 90m)" in (report.error or "")
    assert report.wake_at == T0 - timedelta(minutes=30)


def test_platforms_checks_best_first_and_lazily(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "plat/app"
    registry.push_image(repo, "1.0.0")  # never read: a better tag qualifies first
    registry.push_index(repo, "2.0.0", platforms=(("linux", "amd64"), ("linux", "arm64", "v8")))
    registry.push_image(repo, "2.1.0", platform=("linux", "amd64"))
    registry.push_index(repo, "2.2.0", platforms=(("linux", "amd64"), ("linux", "arm", "v7")))
    folder = config(tmp_path / "cfg", registry, repo, "{semver: {range: '>=1.0.0'}}",
                    "  platforms: [linux/amd64, linux/arm64]")
    first = scan(folder, tmp_path / "state")
    policy = only(first)
    assert policy.latest.tag == "2.0.0"
    # list; 2.2.0: index + amd64 manifest + its config (for the build time, cached with the platforms);
    # 2.1.0: its manifest (its config is that same blob: same platform, same time); 2.0.0: index +
    # amd64 manifest. Nothing for 1.0.0.
    assert first.requests == 1 + 3 + 1 + 2
    assert scan(folder, tmp_path / "state").requests == 1

    arm = config(tmp_path / "arm", registry, repo, "{semver: {range: '>=1.0.0'}}", "  platforms: [linux/arm/v7]")
    assert only(scan(arm, tmp_path / "state")).latest.tag == "2.2.0"
    none = config(tmp_path / "none", registry, repo, "{semver: {range: '>=1.0.0'}}", "  platforms: [linux/s390x]")
    failed = only(scan(none, tmp_path / "state"))
    assert failed.latest is None and "lacks linux/s390x" in (failed.error or "")


def test_configs_without_the_extensions_read_no_manifests(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "plain/app"
    for tag in ("1.0.0", "1.2.0"):
        registry.push_image(repo, tag)
    report = scan(config(tmp_path / "cfg", registry, repo, "{semver: {range: '1.x'}}"), tmp_path / "state")
    assert only(report).latest.tag == "1.2.0" and report.requests == 1
    assert "waits" not in report.to_json()["policies"][0]


def test_plan_and_scan_say_which_tag_waits_and_until_when(registry: RegistryServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = "age/plan"
    built = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    registry.push_image(repo, "1.0.0", created=built - timedelta(days=30))
    registry.push_image(repo, "1.5.0", created=built)
    folder = config(tmp_path / "cfg", registry, repo, "{semver: {range: '>=1.0.0'}}", "  minimumAge: 72h")
    until = (built + timedelta(hours=72)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = subprocess.run([sys.executable, "-m", "imagebot", "plan", "-c", str(folder), "--state-dir",
                           str(tmp_path / "state")], capture_output=True, text=True, timeout=120)
    assert f"# ImagePolicy team/app: 1.5.0 waits until {until} (minimumAge 72h)" in plan.stderr, plan.stderr
    scan_json = subprocess.run([sys.executable, "-m", "imagebot", "scan", "-c", str(folder), "--state-dir",
                                str(tmp_path / "state"), "--output", "json"], capture_output=True, text=True,
                               timeout=120)
    import json

    [policy] = json.loads(scan_json.stdout)["policies"]
    assert policy["latest"]["tag"] == "1.0.0" and policy["waits"] == f"1.5.0 waits until {until} (minimumAge 72h)"


def test_at_most_100_ranked_tags_are_judged_and_the_error_says_so(registry: RegistryServer, tmp_path: Path) -> None:
    repo = "age/many"
    registry.push_image(repo, "0.0.1", created=T0 - timedelta(days=90))
    folder = config(tmp_path / "cfg", registry, repo, "{semver: {range: '*'}}", "  minimumAge: 24h")
    assert only(scan(folder, tmp_path / "state")).latest.tag == "0.0.1"
    registry.seed_tags(repo, [f"1.0.{n}" for n in range(150)])  # all new, all too young
    report = scan(folder, tmp_path / "state", clock=lambda: T0 + timedelta(hours=1))
    policy = only(report)
    assert policy.latest is None and report.requests == 1  # first sightings need no manifest reads
    assert "the best, 1.0.149, waits until 2026-03-02T13:00:00Z" in policy.error
    assert "none of the best 100 tags qualifies" in policy.error and "51 more were not judged" in policy.error


def test_minimum_age_after_an_upgrade_counts_existing_tags_from_their_build(registry: RegistryServer,
                                                                            tmp_path: Path) -> None:
    repo = "age/upgrade"
    registry.push_image(repo, "1.0.0", created=T0 - timedelta(days=30))
    registry.push_image(repo, "1.1.0", created=T0 - timedelta(days=5))
    plain = config(tmp_path / "plain", registry, repo, "{semver: {range: '>=1.0.0'}}")
    scan(plain, tmp_path / "state")  # as a release before first sightings: the tags are stored...
    with Store(tmp_path / "state") as store:
        store._db.execute("DELETE FROM tag_first_seen")  # ...but no first sightings
        store._db.execute("DELETE FROM first_scans")
    aged = config(tmp_path / "aged", registry, repo, "{semver: {range: '>=1.0.0'}}", "  minimumAge: 72h")
    policy = only(scan(aged, tmp_path / "state", clock=lambda: T0 + timedelta(hours=1)))
    assert policy.latest.tag == "1.1.0" and policy.waiting == ()  # built 5 days ago: old enough
