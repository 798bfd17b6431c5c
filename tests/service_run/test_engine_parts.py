"""The service's parts on their own: coalescing runs, job sync with a real scheduler, which
resources a webhook triggers, and what a reload calls for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from imagebot.config import Config, load_config
from imagebot.service.main import Listen
from imagebot.service.receivers import PushedImage, ResourceRef
from imagebot.service.resolve import config_changes, pushed_matches, pushed_tags, resolve_resources
from imagebot.service.schedule import SteadyInterval, jitter_for, job_specs, sync_jobs
from imagebot.service.serial import SerialRuns, Trigger
from imagebot.service.watch import ConfigWatcher


def test_triggers_during_a_run_coalesce_into_one_follow_up_and_runs_never_overlap() -> None:
    log: list[tuple[str, str, float | None]] = []
    active: dict[str, int] = {}
    overlap = []

    async def work(key: str, trigger: Trigger) -> None:
        active[key] = active.get(key, 0) + 1
        overlap.append(active[key] > 1)
        log.append((key, trigger.reason, trigger.pushed_at))
        await asyncio.sleep(0.05)
        active[key] -= 1

    async def scenario() -> None:
        runs = SerialRuns(work, "test")
        first = runs.request("a", Trigger("interval"))
        await asyncio.sleep(0.01)
        for i in range(5):  # a burst of pushes while "a" runs
            runs.request("a", Trigger("webhook", pushed_at=10.0 - i))
        runs.request("b", Trigger("interval"))  # another key is not held up
        assert first is not None
        await asyncio.gather(*runs.running())

    asyncio.run(scenario())
    assert not any(overlap)
    assert [e for e in log if e[0] == "a"] == [("a", "interval", None), ("a", "webhook", 6.0)]
    assert ("b", "interval", None) in log
    assert log.index(("b", "interval", None)) == 1, "b started while a was running"


def test_a_schedule_joins_the_run_in_progress_and_a_push_still_gets_its_follow_up() -> None:
    log: list[str] = []

    async def work(key: str, trigger: Trigger) -> None:
        log.append(f"{key} {trigger.reason}")
        await asyncio.sleep(0.05)

    async def scenario() -> None:
        runs = SerialRuns(work, "test")
        runs.request("a", Trigger("startup"))
        await asyncio.sleep(0.01)
        await runs.join("a", Trigger("interval"))  # returns when the startup run is done: no second run
        assert log == ["a startup"]
        await runs.join("a", Trigger("interval"))  # nothing in progress: a run of its own
        assert log == ["a startup", "a interval"]
        runs.request("a", Trigger("startup"))
        await asyncio.sleep(0.01)
        runs.request("a", Trigger("webhook", pushed_at=1.0))  # a push during the run: its follow-up stays
        await runs.join("a", Trigger("interval"))
        assert log == ["a startup", "a interval", "a startup", "a webhook"]

    asyncio.run(scenario())


def test_a_failing_run_does_not_stop_the_follow_up_and_close_refuses_new_work() -> None:
    calls = []

    async def work(key: str, trigger: Trigger) -> None:
        calls.append(trigger.reason)
        await asyncio.sleep(0.01)
        if trigger.reason == "first":
            raise RuntimeError("registry down")

    async def scenario() -> None:
        runs = SerialRuns(work, "test")
        runs.request("a", Trigger("first"))
        await asyncio.sleep(0.001)  # "first" has started: "second" waits for it
        runs.request("a", Trigger("second"))
        await asyncio.gather(*runs.running())
        runs.close()
        assert runs.request("a", Trigger("third")) is None

    asyncio.run(scenario())
    assert calls == ["first", "second"]


def test_a_schedule_waiting_on_a_run_that_shutdown_stops_ends_quietly() -> None:
    # APScheduler logs "Job ... raised an exception" with a traceback for a job that raises, even a
    # CancelledError: every stop of a busy service logged one per scan in progress.
    async def work(key: str, trigger: Trigger) -> None:
        await asyncio.sleep(3600)  # a registry that does not answer

    async def scenario() -> None:
        runs = SerialRuns(work, "test")
        runs.request("a", Trigger("startup"))
        await asyncio.sleep(0.01)
        joined = asyncio.create_task(runs.join("a", Trigger("interval")))  # the schedule, on the run in progress
        waited = asyncio.create_task(runs.run("b", Trigger("interval")))
        waiter = asyncio.create_task(runs.run("c", Trigger("interval")))
        await asyncio.sleep(0.01)
        runs.close()
        stopped = [t for t in runs.running() if t.get_name() != "test c"]
        for task in stopped:  # as Runtime.shutdown stops scans
            task.cancel()
        assert await joined is None and await waited is None
        waiter.cancel()  # the waiter's own cancellation still is one, and its run goes on
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert [t.get_name() for t in runs.running()] == ["test c"]
        runs.running()[0].cancel()

    asyncio.run(scenario())


CONFIG = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: team}
spec: {image: registry.example.com/team/app, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: nginx, namespace: team}
spec: {image: nginx, interval: 1h, suspend: %(suspend)s}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: team}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: "%(range)s"}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: team}
spec: {url: "https://git.example.com/fleet.git", ref: {branch: main}, interval: 1h}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: team}
spec:
  interval: %(automation_interval)s
  sourceRef: {kind: GitRepository, name: fleet}
  git: {commit: {author: {name: bot, email: bot@example.com}}, push: {branch: main}}
  update: {path: ./, strategy: Setters}
"""


def config(tmp_path: Path, *, suspend: str = "false", range_: str = ">=1.0.0", automation_interval: str = "10m",
           name: str = "c.yaml") -> Config:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "c.yaml").write_text(CONFIG % {"suspend": suspend, "range": range_,
                                             "automation_interval": automation_interval})
    loaded = load_config(folder)
    assert not loaded.errors, loaded.errors
    return loaded.config


def test_jobs_follow_the_config_through_reloads(tmp_path: Path) -> None:
    async def scan(key: str) -> None: ...
    async def automate(key: str) -> None: ...

    async def scenario() -> list[list[tuple[str, float]]]:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        scheduler.start(paused=True)
        seen = []
        for cfg in (config(tmp_path), config(tmp_path, suspend="true", automation_interval="2m", name="d")):
            sync_jobs(scheduler, job_specs(cfg, scan, automate))
            seen.append(sorted((j.id, j.trigger.interval_length) for j in scheduler.get_jobs()))
            assert all(j.max_instances == 1 and j.coalesce for j in scheduler.get_jobs())
        scheduler.shutdown(wait=False)
        return seen

    first, second = asyncio.run(scenario())
    assert first == [("automation team/fleet", 600.0), ("scan team/app", 300.0), ("scan team/nginx", 3600.0)]
    assert second == [("automation team/fleet", 120.0), ("scan team/app", 300.0)], "suspended: no job"
    assert jitter_for(300) == 30 and jitter_for(60) == 6 and jitter_for(3600) == 30


def test_jobs_added_together_spread_over_their_interval(tmp_path: Path) -> None:
    """500 repositories on a one-minute interval do not all fire within the jitter's six seconds."""
    docs = [f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app{i}, namespace: team}}
spec: {{image: 127.0.0.1:5000/team/app{i}, interval: 1m}}
""" for i in range(500)]
    (tmp_path / "c.yaml").write_text("---\n".join(docs))
    cfg = load_config(tmp_path).raise_for_errors()

    async def scan(key: str) -> None: ...

    async def scenario() -> list[float]:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        scheduler.start(paused=True)
        started = datetime.now(UTC)
        sync_jobs(scheduler, job_specs(cfg, scan, scan))
        firsts = sorted((j.next_run_time - started).total_seconds() for j in scheduler.get_jobs())
        scheduler.shutdown(wait=False)
        return firsts

    firsts = asyncio.run(scenario())
    assert len(firsts) == 500
    assert firsts[0] > -1 and firsts[-1] < 60 + jitter_for(60) + 1  # each within its first interval
    per_ten_seconds = [sum(1 for f in firsts if t <= f < t + 10) for t in range(0, 60, 10)]
    assert all(40 < n < 130 for n in per_ten_seconds), per_ten_seconds  # about 83 each, not 500 in one


def test_a_schedule_keeps_to_its_interval_and_the_jitter_never_adds_up() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    trigger = SteadyInterval(seconds=60, jitter=jitter_for(60), start_date=start)
    runs = [trigger.get_next_fire_time(None, start - timedelta(seconds=1))]
    for _ in range(1000):
        runs.append(trigger.get_next_fire_time(runs[-1], runs[-1]))
    offsets = [(run - start).total_seconds() for run in runs]  # type: ignore[operator]
    for n, offset in enumerate(offsets):  # run n in its own minute, within the jitter's 6 s of its start
        assert 60 * n <= offset <= 60 * n + 6, (n, offset)
    gaps = [b - a for a, b in pairwise(offsets)]
    assert max(gaps) <= 66 and min(gaps) >= 54
    assert abs(sum(gaps) / len(gaps) - 60) < 0.1  # IntervalTrigger's jitter drifted this to 63 s
    # a draw of no jitter at all, rounded a microsecond down: the next run is still in the next minute
    rounded = trigger.get_next_fire_time(start + timedelta(seconds=120, microseconds=-1), start)
    assert rounded is not None and 180 <= (rounded - start).total_seconds() <= 186


def test_webhook_resources_resolve_to_scans_and_runs(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    repos, automations = resolve_resources(cfg, [ResourceRef("ImageRepository", "*", "team"),
                                                 ResourceRef("GitRepository", "fleet", "team"),
                                                 ResourceRef("ImageRepository", "app", "other")])
    assert repos == {"team/app", "team/nginx"}
    assert automations == {"team/fleet"}
    assert resolve_resources(cfg, [ResourceRef("ImagePolicy", "app", "team")]) == ({"team/app"}, set())

    assert pushed_matches(cfg, "team/app", [PushedImage("team/app", "1.2.3", "127.0.0.1:5000")])
    assert not pushed_matches(cfg, "team/app", [PushedImage("team/other", "1.2.3")])
    assert pushed_matches(cfg, "team/nginx", [PushedImage("nginx", "1.27", "docker.io")])
    pushes = [PushedImage("team/app", "1.2.3"), PushedImage("team/app", None, digest="sha256:0"),
              PushedImage("team/other", "9.9.9"), PushedImage("nginx", "1.27")]
    assert pushed_tags(cfg, "team/app", pushes) == {"1.2.3"}
    assert pushed_tags(cfg, "team/nginx", pushes) == {"1.27"}


def test_merged_triggers_keep_every_announced_tag_and_a_push_is_never_served_from_stored_tags() -> None:
    wake = Trigger("of-age")
    push = Trigger("webhook", 5.0, frozenset({"1.1.0"}))
    again = Trigger("settle", 3.0, frozenset({"1.0.9"}), attempt=2)

    # of-age selects from the stored tags without listing: folded with a push, the scan must list
    assert wake.merge(push) == Trigger("webhook", 5.0, frozenset({"1.1.0"}))
    assert push.merge(wake).reason == "webhook"
    assert wake.merge(Trigger("of-age")).reason == "of-age"
    # a fresh notification restarts the count of scans looking for its tags
    assert again.merge(push) == Trigger("settle", 3.0, frozenset({"1.0.9", "1.1.0"}), attempt=0)


def test_a_reload_rescans_changed_policies_and_reruns_changed_automations(tmp_path: Path) -> None:
    old = config(tmp_path)
    same = config(tmp_path, name="same")
    assert config_changes(old, same).scan == set() and config_changes(old, same).run == set()

    changed = config_changes(old, config(tmp_path, range_=">=2.0.0", automation_interval="1m", name="new"))
    assert changed.scan == {"team/app"}
    assert changed.dropped_policies == {"team/app"}
    assert changed.run == {"team/fleet"}
    first = config_changes(Config(), old)
    assert first.scan == {"team/app", "team/nginx"} and first.run == {"team/fleet"}


def test_watcher_notices_added_changed_and_removed_files(tmp_path: Path) -> None:
    calls = []

    async def on_change() -> None:
        calls.append(1)

    async def scenario() -> list[bool]:
        (tmp_path / "a.yaml").write_text("a: 1\n")
        watcher = ConfigWatcher(tmp_path, on_change)
        results = [await watcher.poll_once()]
        (tmp_path / "b.yml").write_text("b: 1\n")
        results.append(await watcher.poll_once())
        (tmp_path / "a.yaml").write_text("a: 22\n")
        results.append(await watcher.poll_once())
        (tmp_path / "notes.txt").write_text("not a policy file")
        results.append(await watcher.poll_once())
        (tmp_path / "b.yml").unlink()
        results.append(await watcher.poll_once())
        return results

    assert asyncio.run(scenario()) == [False, True, True, False, True]
    assert len(calls) == 3


def test_watcher_notices_a_rotated_secret_mounted_as_kubernetes_does(tmp_path: Path) -> None:
    config, secrets = tmp_path / "config", tmp_path / "secrets"
    config.mkdir()
    (config / "a.yaml").write_text("a: 1\n")
    # a secret volume: keys are links into a timestamped folder that `..data` points to
    folder = secrets / "slack"
    (folder / "..v1").mkdir(parents=True)
    (folder / "..v1" / "address").write_text("https://hooks.example/one")
    (folder / "..data").symlink_to("..v1")
    (folder / "address").symlink_to("..data/address")
    calls = []

    async def on_change() -> None:
        calls.append(1)

    async def scenario() -> list[bool]:
        watcher = ConfigWatcher(config, on_change, secrets=secrets)
        results = [await watcher.poll_once()]
        (folder / "..v2").mkdir()
        (folder / "..v2" / "address").write_text("https://hooks.example/rotated")
        (folder / "..data.tmp").symlink_to("..v2")
        (folder / "..data.tmp").rename(folder / "..data")  # the atomic swap the kubelet does
        results.append(await watcher.poll_once())
        results.append(await watcher.poll_once())
        return results

    assert asyncio.run(scenario()) == [False, True, False]
    assert calls == [1]


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9090", Listen("127.0.0.1", 9090)),
    ("[::1]:0", Listen("::1", 0)),
    (":8080", Listen("127.0.0.1", 8080)),
])
def test_listen_addresses(text: str, expected: Listen) -> None:
    assert Listen.parse(text) == expected


@pytest.mark.parametrize("text", ["9090", "localhost:http", "127.0.0.1:70000"])
def test_bad_listen_addresses_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        Listen.parse(text)

