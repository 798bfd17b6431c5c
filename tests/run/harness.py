"""A workspace for `imagebot run --once` tests: policy files, secrets, state, and the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.registry import RegistryServer

ROOT = Path(__file__).resolve().parents[2]


def deployment(name: str, image: str) -> str:
    """A manifest with comments, quoting and a marked image: only the marked scalar may change."""
    return (
        "# managed by people and imagebot\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {name}   # keep the spacing\n"
        "  namespace: apps\n"
        "spec:\n"
        "  replicas: 2\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        f"        - name: {name}\n"
        f'          image: {image} # {{"$imagepolicy": "flux-system:{name}"}}\n'
        "          args: ['--port', \"8080\"]\n"
    )


def helm_values(image: str, tag: str) -> str:
    return (
        "image:\n"
        f'  repository: {image} # {{"$imagepolicy": "flux-system:app:name"}}\n'
        f'  tag: "{tag}"  # {{"$imagepolicy": "flux-system:app:tag"}}\n'
        "\n"
        "# unrelated\n"
        "resources: {}\n"
    )


@dataclass
class Automation:
    """The knobs of one ImageUpdateAutomation (and its GitRepository) the tests turn."""

    name: str = "apps"
    git_url: str = ""
    branch: str = "main"
    git_secret: str | None = None
    path: str = "./"
    push: Mapping[str, Any] | None = None
    commit_extra: Mapping[str, Any] = field(default_factory=dict)
    source_extra: Mapping[str, Any] = field(default_factory=dict)  # more GitRepository spec fields

    def documents(self) -> list[dict[str, Any]]:
        source: dict[str, Any] = {"url": self.git_url, "interval": "5m", "ref": {"branch": self.branch}}
        if self.git_secret:
            source["secretRef"] = {"name": self.git_secret}
        source.update(self.source_extra)
        git: dict[str, Any] = {
            "checkout": {"ref": {"branch": self.branch}},
            "commit": {"author": {"name": "imagebot", "email": "imagebot@example.com"}, **self.commit_extra},
        }
        if self.push is not None:
            git["push"] = dict(self.push)
        return [
            {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": self.name, "namespace": "flux-system"}, "spec": source},
            {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
             "metadata": {"name": self.name, "namespace": "flux-system"},
             "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": self.name},
                      "git": git, "update": {"path": self.path, "strategy": "Setters"}}},
        ]


@dataclass
class Workspace:
    """Config, secrets and state folders under `root`; `run()` is `imagebot run --once`."""

    root: Path
    registry: RegistryServer
    prefix: str  # registry repositories of this test live under it

    @classmethod
    def for_test(cls, tmp_path: Path, registry: RegistryServer, test_name: str, folder: str) -> Workspace:
        """A workspace whose registry repositories are named after the test (lowercase alphanumerics
        with separators, as registries take them), so tests can share one registry."""
        prefix = re.sub(r"[^a-z0-9]+", "-", test_name.lower())[:60].strip("-")
        return cls(tmp_path / "ws", registry, f"{folder}/{prefix}")

    def __post_init__(self) -> None:
        for name in ("config", "secrets", "state"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def image(self, name: str) -> str:
        return self.registry.image(f"{self.prefix}/{name}")

    def push_tags(self, name: str, *tags: str) -> None:
        for tag in tags:
            self.registry.push_image(f"{self.prefix}/{name}", tag)

    def secret(self, name: str, values: Mapping[str, str | bytes]) -> None:
        folder = self.secrets / name
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in values.items():
            (folder / key).write_bytes(value if isinstance(value, bytes) else value.encode())

    def alerting(self, provider_type: str, name: str, address: str) -> list[dict[str, Any]]:
        """A Provider whose secret holds `address` (as Flux reads it) and an Alert sending it every
        automation's info events: the `extra` documents for write_config."""
        self.secret(name, {"address": address})
        api = "notification.toolkit.fluxcd.io/v1beta3"
        return [
            {"apiVersion": api, "kind": "Provider", "metadata": {"name": name, "namespace": "flux-system"},
             "spec": {"type": provider_type, "secretRef": {"name": name}}},
            {"apiVersion": api, "kind": "Alert", "metadata": {"name": "updates", "namespace": "flux-system"},
             "spec": {"providerRef": {"name": name}, "eventSeverity": "info",
                      "eventSources": [{"kind": "ImageUpdateAutomation", "name": "*"}]}},
        ]

    def write_config(self, *automations: Automation, images: tuple[str, ...] = ("app",),
                     extra: list[dict[str, Any]] | None = None) -> None:
        docs: list[dict[str, Any]] = []
        for name in images:
            docs.append({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                         "metadata": {"name": name, "namespace": "flux-system"},
                         "spec": {"image": self.image(name), "interval": "5m", "insecure": True}})
            docs.append({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                         "metadata": {"name": name, "namespace": "flux-system"},
                         "spec": {"imageRepositoryRef": {"name": name}, "policy": {"semver": {"range": ">=1.0.0"}}}})
        for automation in automations:
            docs.extend(automation.documents())
        docs.extend(extra or [])
        # JSON documents are YAML: no quoting surprises in generated config.
        text = "".join(f"---\n{json.dumps(doc, indent=2)}\n" for doc in docs)
        (self.config / "imagebot.yaml").write_text(text)

    def imagebot(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "imagebot", *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=120, env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})

    def run(self, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.imagebot("run", "--once", "-c", str(self.config), "--secrets-dir", str(self.secrets),
                             "--state-dir", str(self.state), env=env)

    def history(self) -> list[dict[str, Any]]:
        result = self.imagebot("history", "--output", "json", "--state-dir", str(self.state))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def workspace_fixtures(folder: str) -> tuple[Any, Any]:
    """A test folder's `registry` (one plain-http registry for the session; each test uses
    repositories named after itself) and `workspace` fixtures: `registry, workspace = workspace_fixtures("run")`
    in its conftest."""
    import pytest

    from tests.support.registry import start_registry

    @pytest.fixture(scope="session")
    def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
        with start_registry(tmp_path_factory.mktemp(f"{folder}-registry")) as server:
            yield server

    @pytest.fixture
    def workspace(tmp_path: Path, registry: RegistryServer, request: pytest.FixtureRequest) -> Workspace:
        return Workspace.for_test(tmp_path, registry, request.node.name, folder)

    return registry, workspace
