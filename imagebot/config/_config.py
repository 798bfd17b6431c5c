"""The loaded configuration: every object by kind, the links between them, and their problems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from imagebot.config._load import config_files, read_objects
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
from imagebot.config.problems import ConfigError, Problem
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
        objects, file_problems = read_objects(file, str(file))
        problems.extend(file_problems)
        for obj in objects:
            previous = seen.get((obj.kind, obj.key))
            if previous is not None and previous.origin is not None:
                problems.append(_problem(obj, None, f"duplicate: also defined at {previous.origin.file}:"
                                                    f"{previous.origin.line}"))
                continue
            seen[(obj.kind, obj.key)] = obj
            config.add(obj)
    problems.extend(check_links(config))
    problems.extend(check_secrets(config, SecretStore(secrets_dir)))
    return LoadedConfig(config, problems)


def _problem(obj: FluxObject, fieldname: str | None, message: str, level: str = "error") -> Problem:
    origin = obj.origin
    return Problem(
        origin.file if origin else "?", origin.line if origin else None, obj.describe(), fieldname, message,
        level,  # type: ignore[arg-type]
    )


def check_links(config: Config) -> list[Problem]:
    """Dangling references and policies that do not compile."""
    from imagebot.policy import PolicyError

    problems: list[Problem] = []
    from imagebot.policy.exclusion import Exclusion

    for repo in config.repositories:
        try:
            Exclusion(repo.spec.exclusion_list)
        except PolicyError as err:
            problems.append(_problem(repo, "spec.exclusionList", str(err)))
        if repo.spec.provider != "generic":
            problems.append(_problem(repo, "spec.provider", repo.spec.provider_note.format(repo.spec.provider),
                                     "note"))
    for policy in config.policies:
        repo = config.repository_for(policy)
        if repo is None:
            problems.append(_problem(policy, "spec.imageRepositoryRef",
                                     f"ImageRepository {policy.repository_key} does not exist"))
        try:
            policy.compile(None)  # the repository's exclusionList is checked with the repository
        except PolicyError as err:
            problems.append(_problem(policy, "spec.policy", str(err)))
    for automation in config.automations:
        if config.git_repository_for(automation) is None:
            problems.append(_problem(automation, "spec.sourceRef",
                                     f"GitRepository {automation.source_key} does not exist"))
        if not config.policies_for(automation):
            problems.append(_problem(automation, "spec.policySelector",
                                     "no ImagePolicy in this namespace is selected: nothing to update", "note"))
        push = automation.spec.git.push
        if push and push.pull_request:
            checkout = config.checkout_branch(automation)
            if not push.branch or push.branch == checkout:
                problems.append(_problem(automation, "spec.git.push.pullRequest",
                                         "a pull request needs spec.git.push.branch set to a branch other than "
                                         "the checkout branch"))
    for git in config.git_repositories:
        ref = git.spec.ref
        if ref is None:
            problems.append(_problem(git, "spec.ref", "not set: the branch is master, as Flux defaults it", "note"))
        elif not ref.branch:
            problems.append(_problem(git, "spec.ref.branch", "an automation needs a branch to push to: set it here "
                                     "or spec.git.checkout.ref.branch on the automation", "note"))
    for alert in config.alerts:
        if config.provider_for(alert) is None:
            problems.append(_problem(alert, "spec.providerRef",
                                     f"Provider {alert.metadata.namespace}/{alert.spec.provider_ref.name} "
                                     "does not exist"))
    for receiver in config.receivers:
        for i, res in enumerate(receiver.spec.resources):
            if res.kind not in ("ImageRepository", "ImageUpdateAutomation", "GitRepository", "ImagePolicy"):
                problems.append(_problem(receiver, f"spec.resources[{i}].kind",
                                         f"kind {res.kind!r} is not one imagebot can trigger", "note"))
                continue
            key = f"{res.namespace or receiver.metadata.namespace}/{res.name}"
            if res.name != "*" and config.find(res.kind, key) is None:
                problems.append(_problem(receiver, f"spec.resources[{i}]", f"{res.kind} {key} does not exist"))
    return problems


# (object kind, secretRef path, keys of which at least one must exist)
def _secret_uses(config: Config) -> Iterable[tuple[FluxObject, str, str, tuple[str, ...]]]:
    for repo in config.repositories:
        if repo.spec.secret_ref:
            yield repo, "spec.secretRef", repo.spec.secret_ref.name, (".dockerconfigjson",)
        if repo.spec.cert_secret_ref:
            yield repo, "spec.certSecretRef", repo.spec.cert_secret_ref.name, ("ca.crt", "tls.crt")
    for git in config.git_repositories:
        if git.spec.secret_ref:
            yield git, "spec.secretRef", git.spec.secret_ref.name, ("username", "password", "identity", "bearerToken")
    for automation in config.automations:
        signing = automation.spec.git.commit.signing_key
        if signing:
            key = "git.asc" if signing.type == "gpg" else "identity"
            yield automation, "spec.git.commit.signingKey.secretRef", signing.secret_ref.name, (key,)
        push = automation.spec.git.push
        if push and push.pull_request:
            yield automation, "spec.git.push.pullRequest.secretRef", push.pull_request.secret_ref.name, ("token",)
    for receiver in config.receivers:
        yield receiver, "spec.secretRef", receiver.spec.secret_ref.name, ("token",)
    for provider in config.providers:
        if provider.spec.secret_ref:
            yield provider, "spec.secretRef", provider.spec.secret_ref.name, ("address", "token", "headers")


def check_secrets(config: Config, secrets: SecretStore) -> list[Problem]:
    problems: list[Problem] = []
    uses = list(_secret_uses(config))
    if secrets.root is None:
        if uses:
            names = sorted({name for _, _, name, _ in uses})
            problems.append(Problem("-", None, None, None, f"secrets referenced ({', '.join(names)}) were not "
                                    "checked: pass --secrets-dir to check them", "note"))
        return problems
    for obj, fieldname, name, keys in uses:
        folder = secrets.root / name
        if not folder.is_dir():
            problems.append(_problem(obj, fieldname, f"secret '{name}' not found: expected a folder {folder}"))
        elif not any(secrets.has(name, k) for k in keys):
            problems.append(_problem(obj, fieldname, f"secret '{name}' has none of the keys {', '.join(keys)}"))
    return problems
