"""A fleet split across shards: 6 namespaces, each with 5 ImageRepositories and ImagePolicies and one
ImageUpdateAutomation with its own git remote, labelled into shard1, shard2 or none (the main instance);
and `imagebot run` instances, each started with its own --watch-label-selector and state folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.service_run._stack import free_port, hermetic_env

KEY = "sharding.fluxcd.io/key"
NAMESPACES = 6
APPS = 5  # repositories and policies per namespace: 30 of each
SHARD_OF = {0: "shard1", 1: "shard1", 2: "shard2", 3: "shard2", 4: None, 5: None}
SELECTORS = {"shard1": f"{KEY} in (shard1)", "shard2": f"{KEY} in (shard2)", "main": f"{KEY} notin (shard1,shard2)"}
ROOT = Path(__file__).resolve().parents[2]


def namespace(n: int) -> str:
    return f"team{n}"


def instance_of(n: int) -> str:
    return SHARD_OF[n] or "main"


def manifests(registry: str, n: int, tag: str = "1.0.0") -> dict[str, str]:
    return {f"apps/app{a}.yaml": textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: app{a}, namespace: {namespace(n)}}}
        spec:
          template:
            spec:
              containers:
                - name: app
                  image: {registry}/{namespace(n)}/app{a}:{tag} # {{"$imagepolicy": "{namespace(n)}:app{a}"}}
        """) for a in range(APPS)}


def namespace_config(registry: str, n: int, git_url: str, *, git_secret: str | None = None,
                     pull_request: dict[str, str] | None = None) -> str:
    ns = namespace(n)
    labels = f"{{{KEY}: {SHARD_OF[n]}}}" if SHARD_OF[n] else "{}"
    docs = []
    for a in range(APPS):
        docs.append(f"""\
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImageRepository
            metadata: {{name: app{a}, namespace: {ns}, labels: {labels}}}
            spec: {{image: {registry}/{ns}/app{a}, interval: 3s, timeout: 30s, insecure: true}}
            """)
        docs.append(f"""\
            apiVersion: image.toolkit.fluxcd.io/v1
            kind: ImagePolicy
            metadata: {{name: app{a}, namespace: {ns}, labels: {labels}}}
            spec:
              imageRepositoryRef: {{name: app{a}}}
              policy: {{semver: {{range: ">=1.0.0"}}}}
            """)
    secret = f", secretRef: {{name: {git_secret}}}" if git_secret else ""
    docs.append(f"""\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {{name: fleet, namespace: {ns}}}
        spec: {{url: "{git_url}", interval: 1h, ref: {{branch: main}}{secret}}}
        """)
    push = "{branch: main}"
    if pull_request:
        push = (f'{{branch: imagebot/updates, pullRequest: {{provider: github, url: "{pull_request["url"]}", '
                f'secretRef: {{name: {pull_request["secret"]}}}}}}}')
    docs.append(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageUpdateAutomation
        metadata: {{name: fleet, namespace: {ns}, labels: {labels}}}
        spec:
          interval: 1h
          sourceRef: {{kind: GitRepository, name: fleet}}
          git:
            commit: {{author: {{name: imagebot, email: imagebot@example.com}}}}
            push: {push}
          update: {{path: ./apps, strategy: Setters}}
        """)
    return "---\n".join(textwrap.dedent(d) for d in docs)


@dataclass
class Instance:
    """One `imagebot run` service process of one shard."""

    name: str
    config: Path
    secrets: Path
    state: Path
    home: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    selector: str | None = None  # default: the shard's, by name; "" for none (every object)

    def start(self) -> None:
        self.port = free_port()
        selector = SELECTORS[self.name] if self.selector is None else self.selector
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imagebot", "run", "-c", str(self.config), "--secrets-dir", str(self.secrets),
             "--state-dir", str(self.state), "--listen", f"127.0.0.1:{self.port}", "--log-format", "json",
             *(["--watch-label-selector", selector] if selector else [])],
            cwd=ROOT, env=hermetic_env(self.home), stdout=log, stderr=subprocess.STDOUT)
        log.close()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict:
        response = httpx.get(f"http://127.0.0.1:{self.port}/status", timeout=5, trust_env=False)
        response.raise_for_status()
        return response.json()

    def wait(self, condition: Callable[[dict], bool], what: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log[-3000:]}")
            try:
                status = self.status()
                if condition(status):
                    return status
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: {what} not within {timeout}s:\n{self.log[-3000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def settled(status: dict) -> bool:
    """Every repository scanned, every policy has a latest image, every automation has run."""
    return (all(r["lastScan"] and not r["error"] for r in status["repositories"])
            and all(p["latest"] for p in status["policies"])
            and all(a["lastRun"] for a in status["automations"]))
