"""A failed ImageUpdateAutomation run is tried again after a backoff, as Flux's
image-automation-controller requeues a failed reconcile; a run with nothing to do is no failure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from imagebot.service.metrics import Metrics
from imagebot.service.runtime import Runtime
from imagebot.service.serial import Trigger
from tests.service_run._stack import deployment, remote_file
from tests.service_run.test_scan_retry import alerting, retries_counted, run_engine, until
from tests.support.gitremotes import BareRemote, make_bare_repo
from tests.support.registry import start_registry
from tests.support.webhookreceiver import WebhookReceiver

AUTOMATION = "team/fleet"


def config(registry_host: str, remote_url: str, alerts_url: str) -> str:
    return f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app, namespace: team}}
spec: {{image: {registry_host}/team/app, interval: 1h, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app, namespace: team}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: fleet, namespace: team}}
spec: {{url: "{remote_url}", ref: {{branch: main}}, interval: 1h}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: fleet, namespace: team}}
spec:
  interval: 1h
  sourceRef: {{kind: GitRepository, name: fleet}}
  git:
    commit:
      author: {{name: imagebot, email: imagebot@example.com}}
    push: {{branch: main}}
  update: {{path: ./apps, strategy: Setters}}
""" + alerting(alerts_url, "ImageUpdateAutomation", "runs")


def test_a_run_whose_git_remote_fails_is_retried_and_delivers_once_it_answers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagebot.service")
    remote_path = tmp_path / "remote.git"  # not there yet: the first run's clone fails
    with start_registry(tmp_path / "reg") as registry, WebhookReceiver("generic") as receiver:
        registry.push_image("team/app", "1.0.0")
        registry.push_image("team/app", "1.1.0")
        seen: dict[str, object] = {}

        async def scenario(runtime: Runtime, metrics: Metrics) -> None:
            # the scan changes the policy, which runs the automation
            await runtime.scans.run("team/app", Trigger("startup"))
            await until(lambda: runtime.status()["automations"][0]["status"] == "failed")  # type: ignore[index]
            seen["first"] = runtime.status()["automations"][0]  # type: ignore[index]
            await until(lambda: runtime.run_retries.failures(AUTOMATION) == 2)  # the first retry failed too
            # the next retry is 0.4 s away, and the loop is held while the remote is made: it finds it there
            manifests = {"apps/app.yaml": deployment(f"{registry.host}/team/app:1.0.0")}
            seen["remote"] = make_bare_repo(remote_path, manifests)
            await until(lambda: runtime.status()["automations"][0]["status"] == "committed")  # type: ignore[index]
            seen["after"] = runtime.status()["automations"][0]  # type: ignore[index]
            seen["failures_after"] = runtime.run_retries.failures(AUTOMATION)
            # a run with nothing left to do is no failure: nothing is retried
            await runtime.automations.run(AUTOMATION, Trigger("interval"))
            seen["noop"] = runtime.status()["automations"][0]["status"]  # type: ignore[index]
            seen["pending_after_noop"] = runtime.run_retries.due()
            seen["retries"] = retries_counted(metrics, "automation")

        run_engine(tmp_path, config(registry.host, remote_path.as_uri(), receiver.url()), scenario,
                   min_retry_delay=0.2, max_retry_delay=2.0)
        alerts = [r.json() for r in receiver.requests]

        first, after = seen["first"], seen["after"]
        assert isinstance(first, dict) and isinstance(after, dict)
        assert first["status"] == "failed" and first["nextRetry"] is not None
        assert after["nextRetry"] is None and seen["failures_after"] == 0
        remote = seen["remote"]
        assert isinstance(remote, BareRemote) and "team/app:1.1.0" in remote_file(remote, "apps/app.yaml")
        assert seen["noop"] == "unchanged" and seen["pending_after_noop"] == {}
        scheduled = [r for r in caplog.records if "retrying in" in r.getMessage()]
        assert seen["retries"] == len(scheduled) == 2
        assert [r.__dict__["attempt"] for r in scheduled] == [1, 2]
        assert all(r.__dict__["automation"] == AUTOMATION for r in scheduled)
        # two failures with one error, one alert for them; then the delivery
        assert [(a["severity"], a["reason"]) for a in alerts] == [("error", "GitOperationFailed"),
                                                                  ("info", "Succeeded")]
        assert scheduled[0].getMessage().startswith("run of ImageUpdateAutomation failed (attempt 1), retrying in")

