"""The service (`python -m imagebot run`) with an approval-gated automation, a real registry that
notifies it, a bare git remote and the fake Slack (Web API provider with a signing secret)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from imagebot.service.receivers import hook_path
from tests.service_run._stack import (
    NAMESPACE,
    RECEIVER,
    REPOSITORY,
    ROOT,
    TOKEN,
    Service,
    base_config,
    deployment,
    free_port,
    hermetic_env,
    policy_doc,
)
from tests.support.gitremotes import make_bare_repo
from tests.support.registry import start_registry
from tests.support.slackfake import TOKEN as BOT_TOKEN
from tests.support.slackfake import SlackFake

SIGNING_SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
APPROVERS = ["U0APPROVER", "lead@example.com"]
INTERACTIONS = "/slack/interactions"


def gated_config(registry_host: str, remote_url: str, expires: str = "24h") -> str:
    text = base_config(registry_host, remote_url, slack=False)
    marker = "update: {path: ./apps, strategy: Setters}"
    assert marker in text
    text = text.replace(marker, marker + "\n  approval: {required: true, approvers: [" + ", ".join(APPROVERS)
                        + "], expiresAfter: " + expires + "}")
    return text + textwrap.dedent(f"""\
        ---
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Provider
        metadata: {{name: slack, namespace: {NAMESPACE}}}
        spec:
          type: slack
          channel: deployments
          secretRef: {{name: slack-app}}
        ---
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Alert
        metadata: {{name: deliveries, namespace: {NAMESPACE}}}
        spec:
          providerRef: {{name: slack}}
          eventSeverity: info
          eventSources:
            - {{kind: ImageUpdateAutomation, name: "*"}}
        """)


def spawn(tmp: Path, port: int, args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """`imagebot run` on `port` with the config, secrets and state folders under `tmp`, logging to imagebot.log."""
    with (tmp / "imagebot.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "imagebot", "run", "-c", str(tmp / "config"), "--secrets-dir", str(tmp / "secrets"),
             "--state-dir", str(tmp / "state"), "--listen", f"127.0.0.1:{port}", "--log-format", "json", *args],
            cwd=ROOT, env=hermetic_env(tmp / "home"), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@contextmanager
def gated_service(tmp: Path, slack: SlackFake, expires: str = "24h", args: Sequence[str] = ()) -> Iterator[Service]:
    """Registry with team/app:1.0.0 (the remote uses it), the service started and ready (see `restart`)."""
    port = free_port()
    with ExitStack() as stack:
        registry = stack.enter_context(start_registry(
            tmp / "registry", notify_url=f"http://127.0.0.1:{port}{hook_path(TOKEN, RECEIVER, NAMESPACE)}"))
        registry.push_image(REPOSITORY, "1.0.0")
        manifest = deployment(f"{registry.host}/{REPOSITORY}:1.0.0")
        remote = make_bare_repo(tmp / "remote.git", {"apps/app.yaml": manifest})
        (tmp / "config").mkdir()
        (tmp / "config" / "base.yaml").write_text(gated_config(registry.host, remote.url, expires))
        (tmp / "config" / "policy.yaml").write_text(policy_doc("app", ">=1.0.0"))
        for name, values in {"receiver-token": {"token": TOKEN},
                             "slack-app": {"address": slack.post_message, "token": BOT_TOKEN,
                                           "signingSecret": SIGNING_SECRET.decode()}}.items():
            (tmp / "secrets" / name).mkdir(parents=True)
            for key, value in values.items():
                (tmp / "secrets" / name / key).write_text(value)
        process = spawn(tmp, port, args)
        stack.callback(_kill, process)
        service = Service(process, port, tmp / "imagebot.log", tmp / "config", registry, remote, None)
        stack.callback(service.http.close)
        service.wait_ready()
        service.wait_log("run finished", timeout=20)  # the startup run: nothing to do
        yield service


def restart(service: Service, tmp: Path, args: Sequence[str] = ()) -> Service:
    """Stop the service (SIGTERM) and start it again on the same port, config and state folder."""
    assert service.stop() == 0
    process = spawn(tmp, service.port, args)
    again = Service(process, service.port, tmp / "imagebot.log", tmp / "config", service.registry, service.remote, None)
    try:
        again.wait_ready()
    except BaseException:
        _kill(process)
        raise
    return again


def interactions_url(service: Service) -> str:
    return f"http://127.0.0.1:{service.port}{INTERACTIONS}"
