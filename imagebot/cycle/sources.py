"""What an automation works with, from its config and secrets: policy values, the Git source, the
signing key, the update root, and the change records commit messages are made of."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from imagebot.config import Config, ImageUpdateAutomation, SecretStore
from imagebot.cycle.outcome import AutomationError
from imagebot.failures import FailureKind

if TYPE_CHECKING:
    from imagebot.delivery.git import GitAuth, GitSource, Signing
    from imagebot.delivery.message import ChangeRecord
    from imagebot.proxy import Proxy
    from imagebot.release import Release
    from imagebot.scan import ScanReport
    from imagebot.update import PolicyValue, UpdateResult


def policy_values(config: Config, automation: ImageUpdateAutomation, report: ScanReport) -> dict[str, PolicyValue]:
    """`NS:NAME` -> latest image of each policy the automation applies (Flux: its namespace, its selector)."""
    from imagebot.update import PolicyValue

    latest = report.latest_by_policy()
    values = {}
    for policy in config.policies_for(automation):
        key = f"{policy.metadata.namespace}:{policy.metadata.name}"
        if key in latest:
            image = latest[key]
            values[key] = PolicyValue(image.name, image.tag, image.digest)
    return values


def checkout_branch(config: Config, automation: ImageUpdateAutomation) -> str:
    branch = config.checkout_branch(automation)
    if branch is None:
        raise AutomationError(FailureKind.CONFIG, "no branch to check out: set spec.ref.branch on the "
                              "GitRepository or spec.git.checkout.ref.branch on the automation")
    return branch


def git_source(config: Config, automation: ImageUpdateAutomation, secrets: SecretStore) -> GitSource:
    from imagebot.delivery.git import GitAuth, GitSource, Verification

    repo = config.git_repository_for(automation)
    if repo is None:
        raise AutomationError(FailureKind.CONFIG, f"GitRepository {automation.source_key} does not exist")
    auth = None
    proxy = git_proxy(config, automation, secrets)
    if repo.spec.provider == "github":
        auth = _github_app_auth(repo.spec.secret_ref.name if repo.spec.secret_ref else None, secrets, proxy)
    elif repo.spec.secret_ref:
        name = repo.spec.secret_ref.name
        text = {k: secrets.read_text(name, k) if secrets.has(name, k) else None
                for k in ("username", "password", "bearerToken")}
        auth = GitAuth(
            username=text["username"], password=text["password"], bearer_token=text["bearerToken"],
            identity=secrets.read_optional(name, "identity"),
            known_hosts=secrets.read_optional(name, "known_hosts"),
        )
    verification = None
    if repo.spec.verify is not None:
        name = repo.spec.verify.secret_ref.name
        # public keys: read without registering them as secrets (nothing to hide, much to garble)
        verification = Verification.from_keys(name, {k: secrets.read(name, k, remember=False)
                                                     for k in secrets.keys(name)})
    return GitSource(repo.spec.url, checkout_branch(config, automation), auth, proxy, verification)


def git_proxy(config: Config, automation: ImageUpdateAutomation, secrets: SecretStore) -> Proxy | None:
    """The GitRepository's proxySecretRef: git's HTTP(S) and the pull request API go through it."""
    from imagebot.proxy import for_git, proxy_from_secret

    repo = config.git_repository_for(automation)
    if repo is None or repo.spec.proxy_secret_ref is None:
        return None
    return for_git(proxy_from_secret(secrets, repo.spec.proxy_secret_ref.name))


def _github_app_auth(secret: str | None, secrets: SecretStore, proxy: Proxy | None) -> GitAuth:
    """A GitHub App installation token as the password of `x-access-token` (Flux's provider: github)."""
    from imagebot.delivery.git import GitAuth
    from imagebot.delivery.githubapp import ACCESS_TOKEN_USERNAME, TOKENS, GitHubApp, GitHubAppError

    if secret is None:
        raise AutomationError(FailureKind.CONFIG, "spec.provider: github needs spec.secretRef, a secret with the "
                              "GitHub App's keys (githubAppID, githubAppInstallationID, githubAppPrivateKey)")
    try:
        app = GitHubApp.from_secret(secrets, secret)
    except GitHubAppError as err:
        raise AutomationError(FailureKind.CONFIG, str(err)) from None
    try:
        token = TOKENS.token(app, proxy=proxy)
    except GitHubAppError as err:
        raise AutomationError(FailureKind.AUTH, str(err)) from None
    return GitAuth(username=ACCESS_TOKEN_USERNAME, password=token)


def signing(automation: ImageUpdateAutomation, secrets: SecretStore) -> Signing | None:
    from imagebot.delivery.git import Signing

    key = automation.spec.git.commit.signing_key
    if key is None:
        return None
    name = key.secret_ref.name
    if key.type == "ssh":
        return Signing("ssh", identity=secrets.read(name, "identity"))
    passphrase = secrets.read_text(name, "passphrase") if secrets.has(name, "passphrase") else None
    return Signing("gpg", key_armored=secrets.read(name, "git.asc"), passphrase=passphrase)


def change_records(result: UpdateResult, releases: Mapping[tuple[str, str, str], Release] | None = None,
                   ) -> list[ChangeRecord]:
    from imagebot.delivery.message import ChangeRecord
    from imagebot.release.lookup import release_key

    return [
        ChangeRecord(file=c.file, kind=c.object.kind if c.object else "", namespace=c.object.namespace if c.object
                     else "", name=c.object.name if c.object else "", old=c.old_value, new=c.new_value,
                     setter=c.setter, api_version=c.object.api_version if c.object else "",
                     release=(releases or {}).get(release_key(c)))
        for c in result.changes
    ]


def update_root(workdir: Path, automation: ImageUpdateAutomation) -> Path:
    """`spec.update.path` inside the checkout; a path that leaves it is refused."""
    root = (workdir / automation.spec.update.path).resolve()
    if not root.is_relative_to(workdir.resolve()):
        raise AutomationError(FailureKind.CONFIG,
                              f"spec.update.path {automation.spec.update.path!r} leaves the repository")
    if not root.exists():
        raise AutomationError(FailureKind.CONFIG,
                              f"spec.update.path {automation.spec.update.path!r} does not exist in the repository")
    return root


def apply_policies(workdir: Path, automation: ImageUpdateAutomation, values: dict[str, PolicyValue], *,
                   write: bool = True) -> UpdateResult:
    """The automation's update under `spec.update.path` of a working copy, with paths relative to the
    repository (what a reader of the commit, PR or diff sees), not to the update path."""
    from imagebot.update import apply_updates

    root = update_root(workdir, automation)
    result = apply_updates(root, values, default_namespace=automation.metadata.namespace, write=write)
    return relative_to_repository(result, root.relative_to(workdir.resolve()).as_posix())


def relative_to_repository(result: UpdateResult, prefix: str) -> UpdateResult:
    """`result` with every path prefixed by `prefix` (the update path inside the checkout)."""
    from imagebot.update import FileChange, UpdateResult

    if prefix in ("", "."):
        return result

    def join(path: str) -> str:
        return posixpath.join(prefix, path) if path else prefix

    files = [FileChange(join(f.path), f.old, f.new, [replace(c, file=join(c.file)) for c in f.changes])
             for f in result.files]
    notes = [replace(n, file=join(n.file)) for n in result.notes]
    return UpdateResult(files, notes, result.written)
