"""Delivery windows (`spec.schedule`): outside them the change waits, reported; inside it is delivered.

The window is judged at an injected time (deliver_automation's `now`) against a real registry and a
real bare remote, and through `imagebot run --once` / `plan` at the real time with a window that is
certainly closed (a single minute twelve hours away).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from imagebot.config import SecretStore, load_config
from imagebot.cycle import deliver_automation
from imagebot.registry import RegistryClient
from imagebot.scan import Scanner
from imagebot.store import Store
from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import make_bare_repo

# Wednesday 2026-11-25 in Berlin (UTC+1): working hours are 08:00-15:59 UTC
WORKDAYS = [{"cron": "* 9-16 * * 1-5", "timeZone": "Europe/Berlin"}]


class Scheduled(Automation):
    def __init__(self, schedule: list[dict[str, str]], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.schedule = schedule

    def documents(self) -> list[dict[str, object]]:
        docs = super().documents()
        docs[1]["spec"]["schedule"] = self.schedule  # type: ignore[index]
        return docs


def setup(workspace: Workspace, tmp_path: Path, schedule: list[dict[str, str]]):
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"apps/app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.write_config(Scheduled(schedule, git_url=str(remote.path)))
    return remote, app


def closed_now() -> list[dict[str, str]]:
    """A one-minute window twelve hours from now: closed whenever the test runs."""
    later = datetime.now(UTC) + timedelta(hours=12)
    return [{"cron": f"{later.minute} {later.hour} * * *", "timeZone": "UTC"}]


def test_injected_clock_waits_outside_the_window_and_delivers_inside(workspace: Workspace, tmp_path: Path) -> None:
    remote, app = setup(workspace, tmp_path, WORKDAYS)
    loaded = load_config(workspace.config)
    assert not loaded.errors, loaded.errors
    config, secrets = loaded.config, SecretStore(workspace.secrets)
    automation = config.automations[0]
    before = remote.head()

    with Store(workspace.state) as store:
        async def scan():
            async with RegistryClient() as client:
                return await Scanner(config, secrets, store).scan(client)

        report = asyncio.run(scan())
        saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        waiting = deliver_automation(config, automation, report, secrets, workspace.state, store, now=saturday)
        assert waiting.status == "waiting"
        assert waiting.window_opens == datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        assert waiting.window_opens.astimezone(UTC) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        assert [(c.old_value, c.new_value) for c in waiting.result.changes] == [(f"{app}:1.0.0", f"{app}:1.1.0")]
        assert waiting.commit is None and remote.head() == before, "nothing is written outside the window"

        # Monday 09:00 Berlin: the first run inside the window delivers the pending change
        monday = datetime(2026, 11, 30, 8, 0, 5, tzinfo=UTC)
        delivered = deliver_automation(config, automation, report, secrets, workspace.state, store, now=monday)
        assert delivered.status == "committed", delivered.error
        assert remote.head() != before
        assert f"{app}:1.1.0" in remote.read("apps/app.yaml")

        # in the window with nothing left to do: unchanged, not waiting
        again = deliver_automation(config, automation, report, secrets, workspace.state, store,
                                   now=saturday + timedelta(days=7))
        assert again.status == "unchanged" and again.window_opens is None


def test_run_once_honours_the_window_unless_told_to_ignore_it(workspace: Workspace, tmp_path: Path) -> None:
    remote, app = setup(workspace, tmp_path, closed_now())
    before = remote.head()

    result = workspace.imagebot("run", "--once", "-c", str(workspace.config), "--secrets-dir",
                                str(workspace.secrets), "--state-dir", str(workspace.state), "--output", "json")
    assert result.returncode == 0, explain(result)
    automation = json.loads(result.stdout)["automations"][0]
    assert automation["status"] == "waiting"
    opens = datetime.fromisoformat(automation["windowOpens"])
    assert timedelta(hours=11, minutes=58) < opens - datetime.now(UTC) <= timedelta(hours=12)
    assert [(c["old"], c["new"]) for c in automation["changes"]] == [(f"{app}:1.0.0", f"{app}:1.1.0")]
    assert remote.head() == before

    text = workspace.run()
    assert text.returncode == 0, explain(text)
    assert "ImageUpdateAutomation flux-system/apps: waiting for window: 1 change(s) pending, window opens " \
        in text.stdout, explain(text)
    assert remote.head() == before
    assert workspace.history() == []

    plan = workspace.imagebot("plan", "-c", str(workspace.config), "--secrets-dir", str(workspace.secrets),
                              "--state-dir", str(workspace.state))
    assert plan.returncode == 0, explain(plan)
    assert "1 change(s) in 1 file(s), waiting for window (window opens " in plan.stdout, explain(plan)

    forced = workspace.imagebot("run", "--once", "--ignore-schedule", "-c", str(workspace.config),
                                "--secrets-dir", str(workspace.secrets), "--state-dir", str(workspace.state))
    assert forced.returncode == 0, explain(forced)
    assert "committed" in forced.stdout
    assert f"{app}:1.1.0" in remote.read("apps/app.yaml")


def test_ignore_schedule_is_refused_by_the_service(workspace: Workspace) -> None:
    result = workspace.imagebot("run", "--ignore-schedule", "-c", str(workspace.config))
    assert result.returncode == 1
    assert "--ignore-schedule applies to run --once only" in result.stderr
