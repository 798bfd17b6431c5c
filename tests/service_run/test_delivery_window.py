"""The service holds a change outside its delivery window, shows it in /status, and delivers it by
itself when the window opens (a real `imagebot run`, registry and git remote; real time).

Windows are whole minutes, so the test waits for the next minute boundary that leaves the service
time to start: between 8 and 68 seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.service_run._stack import REPOSITORY, service_stack

STARTUP_ALLOWANCE = 8.0  # seconds the service needs to start and hold the pushed change, with room


def next_window_minute(now: datetime) -> datetime:
    """The start of the first whole minute that leaves the service time to start before it."""
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return minute if (minute - now).total_seconds() >= STARTUP_ALLOWANCE else minute + timedelta(minutes=1)


def test_change_waits_for_the_window_then_is_delivered_when_it_opens(tmp_path: Path) -> None:
    opens = next_window_minute(datetime.now(UTC))
    schedule = f'[{{cron: "{opens.minute} {opens.hour} * * *", timeZone: UTC}}]'
    with service_stack(tmp_path, schedule=schedule) as svc:
        svc.wait_log("run finished", timeout=10)  # the startup run: nothing to do
        before = svc.remote.head()

        svc.registry.push_image(REPOSITORY, "1.1.0")  # the registry notifies: scan, then a run
        svc.wait_log("waiting for window", timeout=10)
        assert datetime.now(UTC) < opens, "the test must see the window closed: raise STARTUP_ALLOWANCE"
        status = svc.http.get("/status").json()["automations"][0]
        assert status["status"] == "waiting"
        assert datetime.fromisoformat(status["windowOpens"]) == opens
        image = f"{svc.registry.host}/{REPOSITORY}"
        assert status["pending"] == [{"file": "apps/app.yaml", "old": f"{image}:1.0.0", "new": f"{image}:1.1.0"}]
        assert svc.remote.head() == before, "nothing is pushed outside the window"
        assert svc.slack is not None and svc.slack.requests == [], "a waiting change is not announced"

        # every interval is an hour: only the wake-up the service set for the opening can deliver now
        wait = (opens - datetime.now(UTC)).total_seconds()
        after = svc.wait_head_change(before, timeout=wait + 15)
        delivered_at = datetime.now(UTC)
        assert opens <= delivered_at < opens + timedelta(seconds=15)
        assert f"{image}:1.1.0 #" in svc.remote.read("apps/app.yaml")
        assert svc.remote.parents(after) == [before]
        svc.wait_log("\"trigger\": \"window\"", timeout=5)
        assert svc.slack.wait_for(1, timeout=10)[0].errors == []
        status = svc.http.get("/status").json()["automations"][0]
        assert status["status"] == "committed" and status["windowOpens"] is None and status["pending"] == []
        assert svc.stop() == 0
