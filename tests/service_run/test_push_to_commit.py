"""`imagebot run` as a service: a registry push becomes a commit, a Slack message and metrics."""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.service_run._stack import REPOSITORY, policy_doc, service_stack
from tests.support.gitremotes import HttpGitServer
from tests.support.labelled import push_labelled


def sample(metrics: dict, name: str, **labels: str) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def test_push_gives_commit_slack_message_and_metrics(tmp_path: Path, http_git_server: HttpGitServer) -> None:
    with service_stack(tmp_path, git_server=http_git_server) as svc:
        assert svc.http.get("/healthz").status_code == 200
        assert svc.http.get("/readyz").text.strip() == "ready"
        svc.wait_log("run finished", timeout=10)  # the startup run: nothing to do
        before = svc.remote.head()

        started = time.monotonic()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        after = svc.wait_head_change(before, timeout=10)
        latency = time.monotonic() - started

        assert latency < 5, "every interval is an hour: only the registry's notification can explain this"
        assert f"{svc.registry.host}/{REPOSITORY}:1.1.0 #" in svc.remote.read("apps/app.yaml")
        assert svc.remote.parents(after) == [before]
        # the subject names the change itself: "starts with Update" held for any commit imagebot makes
        message = svc.remote.message(after)
        assert svc.remote.log()[0] == "Update 1 image in apps/: app 1.0.0 -> 1.1.0"
        image = f"{svc.registry.host}/{REPOSITORY}"
        assert f"- Deployment team/app: {image}:1.0.0 -> {image}:1.1.0 (team:app)" in message.splitlines()

        messages = svc.slack.wait_for(1, timeout=10)
        assert messages[0].path == "/services/T000/B000/XXXX"
        assert messages[0].errors == [], "the message must be valid Block Kit"
        text = messages[0].body.decode()
        assert "1.0.0" in text and "1.1.0" in text and after[:7] in text

        metrics = svc.metrics()
        assert sample(metrics, "imagebot_commits_total", automation="team/fleet") == 1
        assert sample(metrics, "imagebot_pushes_total", automation="team/fleet") == 1
        assert sample(metrics, "imagebot_policy_changes_total", image_policy="team/app") == 2  # startup, push
        assert sample(metrics, "imagebot_scans_total", image_repository="team/app", result="ok") >= 2
        assert sample(metrics, "imagebot_tags_seen", image_repository="team/app") == 2
        assert sample(metrics, "imagebot_push_to_commit_seconds_count") == 1
        # from the webhook's arrival to the end of the run, which ends just after the push the test saw
        assert 0 < sample(metrics, "imagebot_push_to_commit_seconds_sum") < latency + 1
        assert sample(metrics, "imagebot_registry_requests_total", host=svc.registry.host, status="200") >= 2
        timed = sample(metrics, "imagebot_registry_request_duration_seconds_count", host=svc.registry.host)
        assert timed is not None and timed >= 2
        assert sample(metrics, "imagebot_failures_total", kind="git") == 0
        webhooks = sample(metrics, "imagebot_webhook_requests_total", receiver="team/registry", status="200")
        assert webhooks is not None and webhooks >= 1

        status = svc.http.get("/status").json()
        [automation] = status["automations"]
        assert automation["status"] == "committed" and automation["commit"] == after
        assert automation["lastRun"] and automation["error"] is None
        [policy] = status["policies"]
        assert policy["latest"]["tag"] == "1.1.0" and policy["error"] is None
        [repository] = status["repositories"]
        assert repository["tags"] == 2 and repository["lastScan"] and repository["error"] is None
        assert svc.stop() == 0


def test_unknown_hook_path_and_unrelated_push_trigger_nothing(tmp_path: Path) -> None:
    with service_stack(tmp_path, slack=False) as svc:
        svc.wait_log("run finished", timeout=10)
        scans = svc.log.count("scanned ")
        head = svc.remote.head()

        assert svc.http.post("/hook/" + "0" * 64, json={"events": []}).status_code == 404
        svc.registry.push_image("team/other", "9.9.9")  # notified, but no resource of the receiver matches
        svc.wait_log("no resource of this receiver matches the push", timeout=10)

        assert svc.log.count("scanned ") == scans
        assert svc.remote.head() == head
        assert svc.stop() == 0


@contextmanager
def silent_registry() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: the slowest registry."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        for conn in held:
            conn.close()


def test_a_registry_that_never_answers_delays_neither_pushes_nor_shutdown(tmp_path: Path) -> None:
    with silent_registry() as silent:
        slow = textwrap.dedent(f"""\
            ---
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImageRepository
            metadata: {{name: slow, namespace: team}}
            spec: {{image: {silent}/team/slow, interval: 1h, insecure: true}}
            ---
            """) + policy_doc("slow", ">=1.0.0", repository="slow")
        with service_stack(tmp_path, slack=False, extra_config=slow) as svc:
            svc.wait_log("scanned 1 tags", timeout=10)  # the real registry's first scan
            head = svc.remote.head()
            svc.registry.push_image(REPOSITORY, "1.1.0")
            svc.wait_head_change(head, timeout=10)
            assert f"{svc.registry.host}/{REPOSITORY}:1.1.0 #" in svc.remote.read("apps/app.yaml")
            metrics = svc.metrics()
            assert sample(metrics, "imagebot_scans_total", image_repository="team/slow", result="ok") is None
            assert sample(metrics, "imagebot_scans_total", image_repository="team/slow", result="error") is None

            stopping = time.monotonic()
            assert svc.stop() == 0
            assert time.monotonic() - stopping < 5, "a hanging scan is cancelled, not waited for"


def test_release_information_is_read_over_the_service_connections(
    tmp_path: Path, http_git_server: HttpGitServer,
) -> None:
    # The delivery runs in a thread; the new image's labels are read on the service's event loop, with
    # its registry connections (not a client and loop of the delivery's own): the Slack message shows them.
    source = "https://git.example.test/acme/app"
    with service_stack(tmp_path, git_server=http_git_server) as svc:
        svc.wait_log("run finished", timeout=10)
        before = svc.remote.head()

        push_labelled(svc.registry, REPOSITORY, "1.1.0", annotations={
            "org.opencontainers.image.source": source, "org.opencontainers.image.version": "1.1.0"})
        svc.wait_head_change(before, timeout=10)

        messages = svc.slack.wait_for(1, timeout=10)
        assert f"<{source}|source>" in messages[0].body.decode()
        assert "release information" not in svc.log  # neither the budget nor the thread's wait ran out
