"""Reloading on SIGHUP and on file changes, keeping the old config when the new one is broken;
stopping on SIGTERM without leaving a half-done delivery."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.service_run._stack import REPOSITORY, Service, deployment, policy_doc, service_stack
from tests.support.gitremotes import git


def failures(svc: Service, kind: str) -> float | None:
    return svc.metrics().get(("imagebot_failures_total", (("kind", kind),)))


CONFIG_ALERT = """\
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: config-errors, namespace: team}
spec:
  providerRef: {name: slack}
  eventSeverity: error
  eventSources: [{kind: ImagePolicy, name: "*"}]
"""


def test_sighup_picks_up_a_new_policy_and_a_broken_file_keeps_the_old_config(tmp_path: Path) -> None:
    pinned_old = "apps/pinned.yaml"
    with service_stack(tmp_path, files={pinned_old: "placeholder\n"}, extra_config=CONFIG_ALERT) as svc:
        # The remote's second file names a policy the config does not have yet.
        image = f"{svc.registry.host}/{REPOSITORY}"
        svc.remote.commit({pinned_old: deployment(f"{image}:0.9.0", policy="pinned", name="pinned")})
        svc.wait_log("run finished", timeout=10)
        head = svc.remote.head()

        (svc.config_dir / "pinned.yaml").write_text(policy_doc("pinned", "~1.0"))
        svc.signal(signal.SIGHUP)
        after = svc.wait_head_change(head, timeout=10)
        assert f"{image}:1.0.0 #" in svc.remote.read(pinned_old)
        svc.wait_log("config reloaded (SIGHUP)")

        # A broken file: the reload is refused, reported, and the previous config keeps working.
        (svc.config_dir / "broken.yaml").write_text(textwrap.dedent("""\
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImagePolicy
            metadata: {name: broken, namespace: team}
            spec:
              imageRepositoryRef: {name: missing}
              policy: {semver: {range: ">=1.0.0"}}
            """))
        svc.signal(signal.SIGHUP)
        svc.wait_log("keeping the previous configuration")
        assert "ImageRepository team/missing does not exist" in svc.log
        assert failures(svc, "config") == 1
        assert svc.http.get("/readyz").status_code == 200
        assert svc.slack is not None
        deadline = time.monotonic() + 5
        while not [r for r in svc.slack.requests if b"InvalidConfig" in r.body] and time.monotonic() < deadline:
            time.sleep(0.05)
        (alert,) = [r for r in svc.slack.requests if b"InvalidConfig" in r.body]
        assert alert.errors == []
        assert b"team/missing does not exist" in alert.body

        svc.registry.push_image(REPOSITORY, "1.1.0")
        svc.wait_head_change(after, timeout=10)
        assert f"{image}:1.1.0 #" in svc.remote.read("apps/app.yaml")
        assert f"{image}:1.0.0 #" in svc.remote.read(pinned_old), "pinned (~1.0) is still in force"

        # Removing the file is noticed without a signal (the files are polled every 2 s).
        (svc.config_dir / "broken.yaml").unlink()
        svc.wait_log("config reloaded (files changed)", timeout=10)
        assert failures(svc, "config") == 1
        assert svc.stop() == 0


def test_sigterm_during_a_run_finishes_the_delivery_and_exits_0(tmp_path: Path) -> None:
    with service_stack(tmp_path, slack=False) as svc:
        svc.wait_log("run finished", timeout=10)
        head = svc.remote.head()
        # The remote takes its time accepting the push, so the signal lands in the middle of it.
        svc.push_held_by_the_remote("1.1.0")
        svc.signal(signal.SIGTERM)
        stopped = time.monotonic()
        code = svc.process.wait(timeout=30)

        assert code == 0
        assert time.monotonic() - stopped < 20
        new = svc.remote.head()
        assert svc.remote.parents(new) == [head], "the remote holds the whole commit"
        assert f"{svc.registry.host}/{REPOSITORY}:1.1.0 #" in svc.remote.read("apps/app.yaml")
        git("fsck", "--no-progress", cwd=svc.remote.path)
        assert "waiting up to 20s for 1 run(s) in progress" in svc.log
        assert "imagebot service stopped" in svc.log
        with pytest.raises(httpx.TransportError):  # stopped means stopped: the port is closed
            svc.http.get("/healthz")


def test_suspended_automation_is_not_run(tmp_path: Path) -> None:
    with service_stack(tmp_path, slack=False) as svc:
        svc.wait_log("run finished", timeout=10)
        head = svc.remote.head()
        base = svc.config_dir / "base.yaml"
        marker = "  interval: 1h\n  sourceRef"
        suspended = base.read_text().replace(marker, "  interval: 1h\n  suspend: true\n  sourceRef")
        assert "suspend: true" in suspended
        base.write_text(suspended)
        svc.signal(signal.SIGHUP)
        svc.wait_log("config reloaded (SIGHUP)")

        svc.registry.push_image(REPOSITORY, "1.1.0")
        svc.wait_log("latest image is now", count=2)  # startup, then the push
        time.sleep(1.0)
        assert svc.remote.head() == head
        assert svc.metrics().get(("imagebot_commits_total", (("automation", "team/fleet"),))) is None
        assert svc.stop() == 0
