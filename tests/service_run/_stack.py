"""Everything `imagebot run` talks to, for real, on loopback: a registry that notifies imagebot on
push, a bare git remote, a Slack-format webhook receiver; and the service as a subprocess.

Used by the tests of this folder and by bench/latency.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from imagebot.service.receivers import hook_path
from tests.support.gitremotes import BareRemote, HttpGitServer, git, make_bare_repo
from tests.support.registry import RegistryServer, start_registry
from tests.support.webhookreceiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "receiver-token-0123456789"
NAMESPACE = "team"
RECEIVER = "registry"
REPOSITORY = "team/app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployment(image: str, policy: str = "app", name: str = "app") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          namespace: {NAMESPACE}
        spec:
          template:
            spec:
              containers:
                - name: {name}
                  image: {image} # {{"$imagepolicy": "{NAMESPACE}:{policy}"}}
        """)


def policy_doc(name: str, semver_range: str, repository: str = "app") -> str:
    return textwrap.dedent(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {{name: {name}, namespace: {NAMESPACE}}}
        spec:
          imageRepositoryRef: {{name: {repository}}}
          policy:
            semver: {{range: "{semver_range}"}}
        """)


def base_config(registry_host: str, remote_url: str, *, slack: bool = True, git_auth: bool = False,
                schedule: str = "") -> str:
    # indented as the lines of the documents below, before their dedent
    git_secret = "\n          secretRef: {name: git-auth}" if git_auth else ""
    windows = f"\n          schedule: {schedule}" if schedule else ""
    docs = [
        f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {{name: app, namespace: {NAMESPACE}}}
        spec:
          image: {registry_host}/{REPOSITORY}
          interval: 1h
          insecure: true
        """,
        f"""\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {{name: fleet, namespace: {NAMESPACE}}}
        spec:
          url: {remote_url}
          ref: {{branch: main}}
          interval: 1h{git_secret}
        """,
        f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageUpdateAutomation
        metadata: {{name: fleet, namespace: {NAMESPACE}}}
        spec:
          interval: 1h
          sourceRef: {{kind: GitRepository, name: fleet}}
          git:
            commit:
              author: {{name: imagebot, email: imagebot@example.com}}
            push: {{branch: main}}
          update: {{path: ./apps, strategy: Setters}}{windows}
        """,
        f"""\
        apiVersion: notification.toolkit.fluxcd.io/v1
        kind: Receiver
        metadata: {{name: {RECEIVER}, namespace: {NAMESPACE}}}
        spec:
          type: generic
          secretRef: {{name: receiver-token}}
          resources:
            - {{kind: ImageRepository, name: app}}
        """,
    ]
    if slack:
        docs += [
            f"""\
            apiVersion: notification.toolkit.fluxcd.io/v1beta3
            kind: Provider
            metadata: {{name: slack, namespace: {NAMESPACE}}}
            spec:
              type: slack
              channel: deployments
              secretRef: {{name: slack-url}}
            """,
            f"""\
            apiVersion: notification.toolkit.fluxcd.io/v1beta3
            kind: Alert
            metadata: {{name: deliveries, namespace: {NAMESPACE}}}
            spec:
              providerRef: {{name: slack}}
              eventSeverity: info
              eventSources:
                - {{kind: ImageUpdateAutomation, name: "*"}}
            """,
        ]
    return "---\n".join(textwrap.dedent(d) for d in docs)


@dataclass
class Service:
    """A running `python -m imagebot run` and the things around it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    config_dir: Path
    registry: RegistryServer
    remote: BareRemote
    slack: WebhookReceiver | None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5, trust_env=False)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"imagebot exited with {self.process.returncode}:\n{self.log[-3000:]}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"imagebot not ready within {timeout}s:\n{self.log[-3000:]}")

    def wait_log(self, needle: str, timeout: float = 10.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.count(needle) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged {count} time(s) within {timeout}s:\n{self.log[-3000:]}")

    def wait_head_change(self, old: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head = self.remote.head()
            if head != old:
                return head
            time.sleep(0.02)
        raise AssertionError(f"no commit on the remote within {timeout}s:\n{self.log[-3000:]}")

    def push_held_by_the_remote(self, tag: str, *, seconds: int = 2) -> None:
        """Push `tag` to the registry with a remote whose pre-receive hook takes `seconds` to accept
        the push, and return once imagebot's push has reached the hook: a delivery in progress."""
        started = self.log_path.with_name("push-started")
        hook = self.remote.path / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch '{started}'\nsleep {seconds}\n")
        hook.chmod(0o755)
        self.registry.push_image(REPOSITORY, tag)
        deadline = time.monotonic() + 10
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), self.log[-2000:]

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, parsed with prometheus_client's parser: (name, labels) -> value."""
        response = self.http.get("/metrics")
        assert response.status_code == 200
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"imagebot did not stop within {timeout}s:\n{self.log[-3000:]}") from None


def hermetic_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "IMAGEBOT_", "SSH_"))}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0", "NO_PROXY": "*", "PYTHONUNBUFFERED": "1"})
    return env


@contextmanager
def service_stack(tmp: Path, *, slack: bool = True, extra_config: str = "", files: dict[str, str] | None = None,
                  git_server: HttpGitServer | None = None, health_port: int | None = None,
                  args: Sequence[str] = (), schedule: str = "") -> Iterator[Service]:
    """Registry (notifying imagebot), remote, Slack receiver, config and a running, ready service.

    The registry holds team/app:1.0.0 and the remote's apps/app.yaml uses it, so the first cycle
    has nothing to do: what happens next is up to the test's pushes. With `health_port`, the
    service also serves its probes and metrics there (`--health-listen`). `schedule` is the
    automation's `spec.schedule`, as YAML flow text.
    """
    port = free_port()
    with ExitStack() as stack:
        registry = stack.enter_context(start_registry(
            tmp / "registry", notify_url=f"http://127.0.0.1:{port}{hook_path(TOKEN, RECEIVER, NAMESPACE)}"))
        registry.push_image(REPOSITORY, "1.0.0")
        manifests = {"apps/app.yaml": deployment(f"{registry.host}/{REPOSITORY}:1.0.0"), **(files or {})}
        if git_server is None:
            remote = make_bare_repo(tmp / "remote.git", manifests)
            remote_url = remote.url
        else:  # smart HTTP with Basic auth: a URL a chat message can link to
            remote = git_server.new_repo(f"{tmp.name}.git", manifests)
            remote_url = git_server.url_for(remote)
        receiver = stack.enter_context(WebhookReceiver("slack")) if slack else None
        config_dir = tmp / "config"
        config_dir.mkdir()
        (config_dir / "base.yaml").write_text(base_config(registry.host, remote_url, slack=slack,
                                                             git_auth=git_server is not None, schedule=schedule))
        (config_dir / "policy.yaml").write_text(policy_doc("app", ">=1.0.0") + extra_config)
        secrets = tmp / "secrets"
        (secrets / "receiver-token").mkdir(parents=True)
        (secrets / "receiver-token" / "token").write_text(TOKEN)
        if git_server is not None:
            (secrets / "git-auth").mkdir()
            (secrets / "git-auth" / "username").write_text(git_server.username)
            (secrets / "git-auth" / "password").write_text(git_server.password)
        if receiver is not None:
            (secrets / "slack-url").mkdir()
            (secrets / "slack-url" / "address").write_text(receiver.url("/services/T000/B000/XXXX"))
        log_path = tmp / "imagebot.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "imagebot", "run", "-c", str(config_dir), "--secrets-dir", str(secrets),
                 "--state-dir", str(tmp / "state"), "--listen", f"127.0.0.1:{port}", "--log-format", "json",
                 *(["--health-listen", f"127.0.0.1:{health_port}"] if health_port else []), *args],
                cwd=ROOT, env=hermetic_env(tmp / "home"), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        service = Service(process, port, log_path, config_dir, registry, remote, receiver)
        try:
            service.wait_ready()
            yield service
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            service.http.close()


def remote_file(remote: BareRemote, path: str) -> str:
    return git("show", f"main:{path}", cwd=remote.path)
