"""The service as a subprocess: every automation runs exactly once at startup, however many startup
scans report a change; a push the remote refuses counts as imagebot_failures_total{kind="push"}."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from tests.service_run._stack import NAMESPACE, REPOSITORY, Service, deployment, service_stack


def sample(metrics: dict, name: str, **labels: str) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def runs_finished(svc: Service) -> list[tuple[str, str]]:
    return [(str(e.get("automation")), str(e.get("trigger"))) for e in svc.log_events()
            if str(e.get("message", "")).startswith("run finished")]


SECOND = textwrap.dedent(f"""\
    ---
    apiVersion: image.toolkit.fluxcd.io/v1
    kind: ImageUpdateAutomation
    metadata: {{name: second, namespace: {NAMESPACE}}}
    spec:
      interval: 1h
      sourceRef: {{kind: GitRepository, name: fleet}}
      git:
        commit:
          author: {{name: imagebot, email: imagebot@example.com}}
        push: {{branch: main}}
      update: {{path: ./second, strategy: Setters}}
    """)


def test_each_automation_runs_exactly_once_at_startup(tmp_path: Path) -> None:
    # "second" has work at startup (its manifest is behind the registry), "fleet" has none; both
    # automations use the policy whose first scan reports a change.
    files = {"second/app.yaml": deployment(f"old.example/{REPOSITORY}:0.9.0")}
    with service_stack(tmp_path, slack=False, extra_config=SECOND, files=files) as svc:
        deadline = time.monotonic() + 30
        while len(runs_finished(svc)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)  # room for a second, unwanted run to show up

        runs = runs_finished(svc)
        assert sorted(runs) == [(f"{NAMESPACE}/fleet", "startup"), (f"{NAMESPACE}/second", "startup")], svc.log
        assert f"{svc.registry.host}/{REPOSITORY}:1.0.0 #" in svc.remote.read("second/app.yaml")
        assert svc.remote.log()[0].startswith("Update 1 image in second/")
        assert sample(svc.metrics(), "imagebot_commits_total", automation=f"{NAMESPACE}/second") == 1
        assert svc.stop() == 0


def test_a_refused_push_is_counted_as_a_push_failure(tmp_path: Path) -> None:
    with service_stack(tmp_path, slack=False) as svc:
        svc.wait_log("run finished", timeout=10)  # the startup run: nothing to do
        head = svc.remote.head()
        svc.remote.reject_pushes("main is protected")

        svc.registry.push_image(REPOSITORY, "1.1.0")
        svc.wait_log("automation failed", timeout=15)

        metrics = svc.metrics()
        assert sample(metrics, "imagebot_failures_total", kind="push") == 1
        assert sample(metrics, "imagebot_failures_total", kind="git") == 0
        assert svc.remote.head() == head
        [failed] = [e for e in svc.log_events() if e.get("message", "").startswith("automation failed")]
        assert "main is protected" in str(failed["message"])
        assert svc.stop() == 0
