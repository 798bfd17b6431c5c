"""The loaded configuration: every object by kind, the links between them, and their problems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from imagebot.config._links import check_links
from imagebot.config._load import config_files, read_objects
from imagebot.config._secretcheck import check_secrets
from imagebot.config.models import (
    Alert,
    FluxObject,
    GitRepository,
    ImagePolicy,
    ImageRepository,
    ImageUpdateAutomation,
    Provider,
    Receiver,
)
from imagebot.config.problems import ConfigError, Problem, object_problem
from imagebot.config.secrets import SecretStore


@dataclass
class Config:
    repositories: list[ImageRepository] = field(default_factory=list)
    policies: list[ImagePolicy] = field(default_factory=list)
    automations: list[ImageUpdateAutomation] = field(default_factory=list)
    git_repositories: list[GitRepository] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    _LISTS: ClassVar[dict[str, str]] = {
        "ImageRepository": "repositories",
        "ImagePolicy": "policies",
        "ImageUpdateAutomation": "automations",
        "GitRepository": "git_repositories",
        "Receiver": "receivers",
        "Provider": "providers",
        "Alert": "alerts",
    }

    _index: dict[tuple[str, str], FluxObject] = field(default_factory=dict, repr=False, compare=False)
    # (kind, namespace/name) of objects that are in the files but invalid: a reference to one is not dangling
    invalid: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def add(self, obj: FluxObject) -> None:
        getattr(self, self._LISTS[obj.kind]).append(obj)
        self._index.clear()

    def objects(self) -> Iterable[FluxObject]:
        for attr in self._LISTS.values():
            yield from getattr(self, attr)

    def repository_for(self, policy: ImagePolicy) -> ImageRepository | None:
        return self.find("ImageRepository", policy.repository_key)  # type: ignore[return-value]

    def git_repository_for(self, automation: ImageUpdateAutomation) -> GitRepository | None:
        return self.find("GitRepository", automation.source_key)  # type: ignore[return-value]

    def policies_for(self, automation: ImageUpdateAutomation) -> list[ImagePolicy]:
        """The policies an automation applies: those of its namespace that its policySelector matches (as Flux)."""
        selector = automation.spec.policy_selector
        return [
            p for p in self.policies
            if p.metadata.namespace == automation.metadata.namespace
            and (selector is None or selector.matches(p.metadata.labels))
        ]

    def checkout_branch(self, automation: ImageUpdateAutomation) -> str | None:
        """The branch an automation checks out: its own checkout ref, else its GitRepository's (Flux
        defaults a GitRepository without `spec.ref` to master); None when there is no branch."""
        checkout = automation.spec.git.checkout
        if checkout and checkout.ref.branch:
            return checkout.ref.branch
        git = self.git_repository_for(automation)
        if git is None:
            return None
        return "master" if git.spec.ref is None else git.spec.ref.branch

    def provider_for(self, alert: Alert) -> Provider | None:
        return self.find("Provider", f"{alert.metadata.namespace}/{alert.spec.provider_ref.name}")  # type: ignore

    def missing(self, kind: str, key: str) -> str:
        """Why a reference to `kind namespace/name` finds nothing: invalid (reported already) or absent."""
        if (kind, key) in self.invalid:
            return f"{kind} {key} is invalid (see above)"
        return f"{kind} {key} does not exist"

    def find(self, kind: str, key: str) -> FluxObject | None:
        """The object of `kind` named `namespace/name`; an index, built once, serves every lookup."""
        if not self._index:
            self._index = {(o.kind, o.key): o for o in self.objects()}
        return self._index.get((kind, key))


@dataclass
class LoadedConfig:
    config: Config
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def notes(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "note"]

    def raise_for_errors(self) -> Config:
        if self.errors:
            raise ConfigError(self.problems)
        return self.config


def load_config(path: Path, secrets_dir: Path | None = None) -> LoadedConfig:
    """Read every policy file under `path` and check it whole; never raises for bad content."""
    config = Config()
    problems: list[Problem] = []
    try:
        files = config_files(path)
    except FileNotFoundError as err:
        return LoadedConfig(config, [Problem(str(path), None, None, None, str(err).split(": ", 1)[-1])])
    if not files:
        problems.append(Problem(str(path), None, None, None, "no *.yaml or *.yml files found", "note"))
    seen: dict[tuple[str, str], FluxObject] = {}
    for file in files:
        found = read_objects(file, str(file))
        problems.extend(found.problems)
        config.invalid.update(found.invalid)
        for obj in found.objects:
            previous = seen.get((obj.kind, obj.key))
            if previous is not None and previous.origin is not None:
                problems.append(object_problem(obj, None, f"duplicate: also defined at {previous.origin.file}:"
                                                          f"{previous.origin.line}"))
                continue
            seen[(obj.kind, obj.key)] = obj
            config.add(obj)
    problems.extend(check_links(config))
    problems.extend(check_secrets(config, SecretStore(secrets_dir), str(path)))
    return LoadedConfig(config, problems)
