"""The whole cycle for ImageUpdateAutomations: scan -> select -> update -> commit -> push -> PR -> record.

Each automation gets the scan's results as plain values (`PolicyValue`) and never talks to a
registry. Git work is blocking (subprocesses), so the async callers run it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from imagebot.config import Config, ImageUpdateAutomation, SecretStore

if TYPE_CHECKING:
    from imagebot.delivery.git import GitSource, Signing
    from imagebot.notify import Dispatcher, Event
    from imagebot.scan import ScanReport
    from imagebot.store import Store
    from imagebot.update import Note, PolicyValue, UpdateResult

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
    error_kind: str | None = None  # "git", "config", "forge", "update", "internal"
    notes: list[Note] = field(default_factory=list)
    attempts: int = 0  # pushes tried; more than 1 when the remote moved meanwhile
    pushed: bool = False  # False when the push branch already held this very change

    @property
    def ok(self) -> bool:
        """False when the automation failed, or a value was refused or a file could not be updated."""
        return self.status != "failed" and not any(note.level == "error" for note in self.notes)


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
        selected = {f"{p.metadata.namespace}:{p.metadata.name}" for p in config.policies_for(automation)}
        commit = spec.git.commit
        author = Author(commit.author.name, commit.author.email)
        push = spec.git.push
        namespace = automation.metadata.namespace

        def apply(workdir: Path) -> UpdateResult | None:
            root = update_root(workdir, automation)
            result = apply_updates(root, values, default_namespace=namespace)
            # Paths relative to the repository, not to spec.update.path: what a reader of the commit sees.
            result = relative_to_repository(result, root.relative_to(workdir.resolve()).as_posix())
            # A selected policy without a value failed this scan, which is reported already: its markers
            # are rightly left alone, and "no policy" would send the reader looking for a missing object.
            outcome.notes = [n for n in result.notes if not (n.code == "unknown-policy" and n.policy in selected)]
            outcome.result = result
            return result if result.files else None

        def message(result: UpdateResult) -> str:
            return render_message(change_records(result), AutomationObject(namespace, automation.metadata.name),
                                  template=commit.message_template, values=commit.message_template_values)

        options = [f"{k}={v}" if v else k for k, v in (push.options if push else {}).items()]
        with Checkout.locked(state_dir / "git", source) as checkout:
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
    outcome.commit = delivered.commit
    outcome.branch = delivered.branch
    outcome.result = delivered.change
    outcome.attempts = delivered.attempts
    outcome.pushed = delivered.pushed
    # A push branch that already holds exactly this change: nothing new was delivered.
    outcome.status = "committed" if delivered.pushed else "unchanged"
    return outcome


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


def _failed(outcome: AutomationOutcome, kind: str, message: str) -> AutomationOutcome:
    from imagebot.redact import scrub

    # Every secret read through SecretStore is registered: none may reach output through an error text.
    outcome.status, outcome.error_kind, outcome.error = "failed", kind, scrub(message, ())
    return outcome


async def open_pull_request(config: Config, outcome: AutomationOutcome, secrets: SecretStore) -> None:
    """Open or update the pull request of an automation that pushed to its own branch."""
    from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
    from imagebot.delivery.message import AutomationObject, MessageTemplateError, render_template, template_data

    automation = outcome.automation
    push = automation.spec.git.push
    if outcome.commit is None or push is None or push.pull_request is None or outcome.result is None:
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


def pull_request_pending(store: Store, outcome: AutomationOutcome) -> bool:
    """Whether the pull request of this outcome's commit still has to be opened or updated.

    Always after a push; when the push branch already held the change, only if no pull request was
    recorded for that commit (a forge that failed last time gets another try, a healthy one no calls).
    """
    push = outcome.automation.spec.git.push
    if push is None or push.pull_request is None or outcome.commit is None or outcome.status == "failed":
        return False
    if outcome.pushed:
        return True
    return not any(d.commit == outcome.commit and d.pull_request_url
                   for d in store.deliveries(outcome.automation.key, limit=20))


def record(store: Store, outcome: AutomationOutcome) -> None:
    """Store a delivery: a pushed commit, or the pull request opened late for a commit pushed before."""
    from imagebot.store import Delivery

    if outcome.commit is None or outcome.result is None or not (outcome.pushed or outcome.pull_request_url):
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
    """Each automation in turn; one that fails (even unexpectedly) never stops the others."""
    outcomes = []
    for automation in automations if automations is not None else config.automations:
        try:
            outcome = await run_automation(config, automation, report, secrets, store, state_dir)
        except Exception as err:  # a bug must cost one automation, not the cycle
            log.exception("automation failed unexpectedly", extra={"automation": automation.key})
            outcome = _failed(AutomationOutcome(automation, "failed"), "internal",
                              f"unexpected {type(err).__name__}: {err}")
        _log(outcome)
        if dispatcher is not None and (event := outcome_event(outcome)) is not None:
            dispatcher.dispatch(event)
        if on_outcome:
            on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


async def run_automation(config: Config, automation: ImageUpdateAutomation, report: ScanReport,
                         secrets: SecretStore, store: Store, state_dir: Path) -> AutomationOutcome:
    """Deliver one automation: commit and push (in a thread: git is blocking), pull request, record."""
    outcome = await asyncio.to_thread(deliver_automation, config, automation, report, secrets, state_dir)
    if pull_request_pending(store, outcome):
        await open_pull_request(config, outcome, secrets)
    record(store, outcome)
    return outcome


def _log(outcome: AutomationOutcome) -> None:
    fields: dict[str, object] = {"automation": outcome.automation.key, "status": outcome.status}
    if outcome.status == "failed":
        log.error("automation failed: %s", outcome.error, extra=fields)
    elif outcome.status == "committed":
        fields["commit"] = outcome.commit
        if outcome.pull_request_url:
            fields["pull_request"] = outcome.pull_request_url
        if outcome.attempts > 1:
            fields["attempts"] = outcome.attempts
        log.info("committed %s to %s", (outcome.commit or "")[:12], outcome.branch, extra=fields)
    for note in outcome.notes:
        (log.error if note.level == "error" else log.warning)("%s", note, extra=fields)
