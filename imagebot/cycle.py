"""The whole cycle for ImageUpdateAutomations: scan -> select -> update -> commit -> push -> PR -> record.

Each automation gets the scan's results as plain values (`PolicyValue`) and never talks to a
registry. Git work is blocking (subprocesses), so the async callers run it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from imagebot.config import Config, ImageUpdateAutomation, SecretStore

if TYPE_CHECKING:
    from imagebot.delivery.git import Checkout, GitSource, Signing
    from imagebot.notify import Dispatcher, Event
    from imagebot.scan import ScanReport
    from imagebot.store import Store
    from imagebot.update import PolicyValue, UpdateResult

log = logging.getLogger("imagebot.cycle")

Status = Literal["unchanged", "committed", "failed", "suspended"]


@dataclass
class AutomationOutcome:
    automation: ImageUpdateAutomation
    status: Status
    repository_url: str | None = None
    commit: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    result: UpdateResult | None = None
    error: str | None = None
    error_kind: str | None = None  # "git", "config", "forge", "update"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class AutomationError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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
    checkout = automation.spec.git.checkout
    if checkout and checkout.ref.branch:
        return checkout.ref.branch
    git = config.git_repository_for(automation)
    if git and git.spec.ref and git.spec.ref.branch:
        return git.spec.ref.branch
    raise AutomationError("config", "no branch to check out: set spec.ref.branch on the GitRepository or "
                                    "spec.git.checkout.ref.branch on the automation")


def git_source(config: Config, automation: ImageUpdateAutomation, secrets: SecretStore) -> GitSource:
    from imagebot.delivery.git import GitAuth, GitSource

    repo = config.git_repository_for(automation)
    if repo is None:
        raise AutomationError("config", f"GitRepository {automation.source_key} does not exist")
    auth = None
    if repo.spec.secret_ref:
        name = repo.spec.secret_ref.name
        text = {k: secrets.read_text(name, k) if secrets.has(name, k) else None
                for k in ("username", "password", "bearerToken")}
        auth = GitAuth(
            username=text["username"] or ("git" if text["bearerToken"] else None),
            password=text["password"] or text["bearerToken"],
            identity=secrets.read_optional(name, "identity"),
            known_hosts=secrets.read_optional(name, "known_hosts"),
        )
    return GitSource(repo.spec.url, checkout_branch(config, automation), auth)


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


def change_records(result: UpdateResult) -> list:
    from imagebot.delivery.message import ChangeRecord

    return [
        ChangeRecord(file=c.file, kind=c.object.kind if c.object else "", namespace=c.object.namespace if c.object
                     else "", name=c.object.name if c.object else "", old=c.old_value, new=c.new_value,
                     setter=c.setter, api_version=c.object.api_version if c.object else "")
        for c in result.changes
    ]


def update_root(workdir: Path, automation: ImageUpdateAutomation) -> Path:
    """`spec.update.path` inside the checkout; a path that leaves it is refused."""
    root = (workdir / automation.spec.update.path).resolve()
    if not root.is_relative_to(workdir.resolve()):
        raise AutomationError("config", f"spec.update.path {automation.spec.update.path!r} leaves the repository")
    if not root.exists():
        raise AutomationError("config", f"spec.update.path {automation.spec.update.path!r} does not exist in the "
                                        "repository")
    return root


def deliver_automation(config: Config, automation: ImageUpdateAutomation, report: ScanReport,
                       secrets: SecretStore, state_dir: Path) -> AutomationOutcome:
    """Blocking: check out, apply the policies' values, commit and push. No pull request here."""
    from imagebot.delivery.git import Author, Checkout, GitError, deliver
    from imagebot.delivery.message import AutomationObject, MessageTemplateError, render_message
    from imagebot.update import apply_updates

    spec = automation.spec
    outcome = AutomationOutcome(automation, "unchanged")
    if spec.suspend:
        outcome.status = "suspended"
        return outcome
    try:
        source = git_source(config, automation, secrets)
        outcome.repository_url = source.display_url
        values = policy_values(config, automation, report)
        checkout: Checkout = Checkout.prepare(state_dir / "git", source)
        commit = spec.git.commit
        author = Author(commit.author.name, commit.author.email)
        push = spec.git.push
        namespace = automation.metadata.namespace

        def apply(workdir: Path) -> UpdateResult | None:
            result = apply_updates(update_root(workdir, automation), values, default_namespace=namespace)
            outcome.notes = [str(n) for n in result.notes]
            outcome.result = result
            return result if result.files else None

        def message(result: UpdateResult) -> str:
            return render_message(change_records(result), AutomationObject(namespace, automation.metadata.name),
                                  template=commit.message_template, values=commit.message_template_values)

        options = [f"{k}={v}" if v else k for k, v in (push.options if push else {}).items()]
        delivered = deliver(
            checkout, apply=apply, message=message, author=author, signing=signing(automation, secrets),
            push_branch=push.branch if push else None, refspec=push.refspec if push else None,
            push_options=options,
        )
    except AutomationError as err:
        return _failed(outcome, err.kind, str(err))
    except MessageTemplateError as err:
        return _failed(outcome, "config", str(err))
    except GitError as err:
        return _failed(outcome, "git", str(err))
    except (OSError, ValueError, LookupError) as err:  # secrets, unreadable files, bad values
        return _failed(outcome, "config", str(err))
    if delivered is None:
        return outcome
    outcome.status = "committed"
    outcome.commit = delivered.commit
    outcome.branch = delivered.branch
    outcome.result = delivered.change
    return outcome


def _failed(outcome: AutomationOutcome, kind: str, message: str) -> AutomationOutcome:
    outcome.status, outcome.error_kind, outcome.error = "failed", kind, message
    return outcome


async def open_pull_request(config: Config, outcome: AutomationOutcome, secrets: SecretStore) -> None:
    """Open or update the pull request of an automation that pushed to its own branch."""
    from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
    from imagebot.delivery.message import AutomationObject, MessageTemplateError, render_template, template_data

    automation = outcome.automation
    push = automation.spec.git.push
    if outcome.status != "committed" or push is None or push.pull_request is None or outcome.result is None:
        return
    pr = push.pull_request
    records = change_records(outcome.result)
    data = template_data(records, AutomationObject(automation.metadata.namespace, automation.metadata.name),
                         automation.spec.git.commit.message_template_values)
    try:
        title = (render_template(pr.title, data, what="pullRequest.title").strip() if pr.title
                 else default_title(records))
        body = render_template(pr.body, data, what="pullRequest.body") if pr.body else default_body(outcome)
        forge = forge_for(pr.provider, repository_url=outcome.repository_url or "", api_url=pr.url,
                          token=secrets.read_text(pr.secret_ref.name, "token"))
        result = await forge.upsert_pull_request(PullRequestRequest(
            head=outcome.branch or push.branch or "", base=checkout_branch(config, automation), title=title,
            body=body, labels=pr.labels, reviewers=pr.reviewers))
    except (ForgeError, MessageTemplateError, LookupError, AutomationError) as err:
        _failed(outcome, "forge", f"pull request: {err}")
        return
    outcome.pull_request_url = result.url


def default_title(records: list) -> str:
    from imagebot.delivery.message import default_message

    return default_message(records).splitlines()[0]


def default_body(outcome: AutomationOutcome) -> str:
    """Markdown: every change old -> new, by file and object."""
    assert outcome.result is not None
    lines = [f"imagebot updated {len(outcome.result.changes)} image reference(s) for "
             f"`{outcome.automation.key}`.", ""]
    for file, objects in outcome.result.by_file().items():
        lines.append(f"### `{file}`")
        for obj, changes in objects.items():
            label = f"{obj.kind} {obj.namespace}/{obj.name}" if obj else "values"
            for change in changes:
                lines.append(f"- {label}: `{change.old_value}` → `{change.new_value}` "
                             f"(policy `{change.policy or change.setter}`)")
        lines.append("")
    if outcome.commit:
        lines.append(f"Commit {outcome.commit[:12]} on `{outcome.branch}`.")
    return "\n".join(lines)


def record(store: Store, outcome: AutomationOutcome) -> None:
    from imagebot.store import Delivery

    if outcome.commit is None or outcome.result is None:
        return
    changes = [{"file": c.file, "object": str(c.object) if c.object else None, "old": c.old_value,
                "new": c.new_value, "setter": c.setter} for c in outcome.result.changes]
    store.record_delivery(Delivery(time.time(), outcome.automation.key, outcome.repository_url, outcome.commit,
                                   outcome.branch, outcome.pull_request_url, changes))


# --- events --------------------------------------------------------------------------------------


def outcome_event(outcome: AutomationOutcome) -> Event | None:
    from imagebot.notify import Event, ImageChange, ObjectRef

    automation = outcome.automation
    ref = ObjectRef("ImageUpdateAutomation", automation.metadata.namespace, automation.metadata.name)
    if outcome.status == "failed":
        return Event(severity="error", reason=_failure_reason(outcome.error_kind), message=outcome.error or "",
                     involved_object=ref, automation=automation.key, repository_url=outcome.repository_url)
    if outcome.status != "committed" or outcome.result is None:
        return None
    changes = [ImageChange(c.file, str(c.object) if c.object else "", c.old_value, c.new_value)
               for c in outcome.result.changes]
    message = f"committed and pushed {outcome.commit[:12] if outcome.commit else ''} to {outcome.branch}"
    if outcome.pull_request_url:
        message += f"; pull request {outcome.pull_request_url}"
    return Event(severity="info", reason="Succeeded", message=message, involved_object=ref,
                 automation=automation.key, changes=changes, commit=outcome.commit, branch=outcome.branch,
                 pull_request_url=outcome.pull_request_url, repository_url=outcome.repository_url)


def _failure_reason(kind: str | None) -> str:
    return {"git": "GitOperationFailed", "forge": "PullRequestFailed", "config": "InvalidConfig"}.get(
        kind or "", "ReconciliationFailed")


def scan_events(report: ScanReport) -> list[Event]:
    from imagebot.notify import Event, ObjectRef

    events = []
    for repo in report.repositories:
        if repo.error:
            meta = repo.repository.metadata
            events.append(Event(severity="error", reason="ScanFailed", message=repo.error,
                                involved_object=ObjectRef("ImageRepository", meta.namespace, meta.name)))
    for result in report.policies:
        meta = result.policy.metadata
        ref = ObjectRef("ImagePolicy", meta.namespace, meta.name)
        if result.error:
            events.append(Event(severity="error", reason="ReconciliationFailed", message=result.error,
                                involved_object=ref))
        elif result.changed and result.latest:
            events.append(Event(severity="info", reason="Succeeded", involved_object=ref,
                                message=f"Latest image tag for {result.latest.name} resolved to {result.latest.tag}"))
    return events


# --- the cycle -----------------------------------------------------------------------------------


@dataclass
class CycleResult:
    report: ScanReport
    outcomes: list[AutomationOutcome]

    @property
    def ok(self) -> bool:
        return self.report.ok and all(o.ok for o in self.outcomes)


async def run_automations(
    config: Config, report: ScanReport, secrets: SecretStore, store: Store, state_dir: Path,
    *, automations: list[ImageUpdateAutomation] | None = None, dispatcher: Dispatcher | None = None,
    on_outcome: Callable[[AutomationOutcome], None] | None = None,
) -> list[AutomationOutcome]:
    outcomes = []
    for automation in automations if automations is not None else config.automations:
        outcome = await asyncio.to_thread(deliver_automation, config, automation, report, secrets, state_dir)
        await open_pull_request(config, outcome, secrets)
        record(store, outcome)
        _log(outcome)
        if dispatcher is not None and (event := outcome_event(outcome)) is not None:
            dispatcher.dispatch(event)
        if on_outcome:
            on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


def _log(outcome: AutomationOutcome) -> None:
    fields = {"automation": outcome.automation.key, "status": outcome.status}
    if outcome.status == "failed":
        log.error("automation failed: %s", outcome.error, extra=fields)
    elif outcome.status == "committed":
        log.info("committed %s to %s", (outcome.commit or "")[:12], outcome.branch,
                 extra={**fields, "commit": outcome.commit, "pull_request": outcome.pull_request_url})
    for note in outcome.notes:
        log.warning("%s", note, extra=fields)
