"""Delivering one automation, and each automation of a cycle in turn."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from imagebot.config import Config, ImageUpdateAutomation, SecretStore
from imagebot.cycle.events import outcome_event, recovered_event
from imagebot.cycle.outcome import AutomationError, AutomationOutcome, failed
from imagebot.cycle.pulls import open_pull_request, pull_request_pending
from imagebot.cycle.recover import change_dicts, reconcile
from imagebot.cycle.sources import (
    apply_policies,
    change_records,
    git_source,
    policy_values,
    signing,
)
from imagebot.failures import FailureKind

if TYPE_CHECKING:
    from imagebot.notify import Dispatcher, Event
    from imagebot.release.lookup import ReleaseFinder
    from imagebot.scan import ScanReport
    from imagebot.store import Store
    from imagebot.update import Note, UpdateResult

log = logging.getLogger("imagebot.cycle")


def deliver_automation(config: Config, automation: ImageUpdateAutomation, report: ScanReport,
                       secrets: SecretStore, state_dir: Path, store: Store | None = None, *,
                       now: datetime | None = None, ignore_schedule: bool = False,
                       releases: ReleaseFinder | None = None) -> AutomationOutcome:
    """Blocking: check out, settle what a killed run left (with `store`), apply the policies' values,
    commit and push, writing the push down before making it. No pull request here.

    Outside every delivery window (`spec.schedule`, judged at `now`) nothing is written: the change
    that would be made is computed against the checkout and reported as "waiting". With `releases`,
    each change's release information (source, compare link, notes) is looked up for the pull request
    and the notification: after the push, or before the commit when the message template uses it."""
    from imagebot.cycle.window import window_state
    from imagebot.delivery.git import Author, Checkout, GitError, PushRejected, deliver
    from imagebot.delivery.message import AutomationObject, MessageTemplateError, render_message
    from imagebot.release.lookup import release_key

    spec = automation.spec
    log.debug("delivery started", extra={"automation": automation.key})
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

        def kept_notes(result: UpdateResult) -> list[Note]:
            # A selected policy without a value failed this scan, which is reported already: its markers
            # are rightly left alone, and "no policy" would send the reader looking for a missing object.
            return [n for n in result.notes if not (n.code == "unknown-policy" and n.policy in selected)]

        def apply(workdir: Path) -> UpdateResult | None:
            if spec.approval is not None and spec.approval.required:
                if store is None:  # nowhere to keep the request: never commit unapproved
                    raise AutomationError(FailureKind.CONFIG, "spec.approval needs the state folder")
                if not gate(workdir):
                    return None
            result = apply_policies(workdir, automation, values)
            outcome.notes = kept_notes(result)
            outcome.result = result
            if outcome.approved is not None and change_dicts(result) != outcome.approved.changes:
                return None  # not what was approved: never committed (gate() compared the same computation)
            return result if result.files else None

        def gate(workdir: Path) -> bool:
            """spec.approval: whether to commit on this head (an approved request of exactly this change)."""
            from imagebot.approval.gate import settle, unified_diff

            computed = apply_policies(workdir, automation, values, write=False)
            outcome.notes = kept_notes(computed)
            outcome.result = computed
            assert store is not None
            verdict = settle(store, automation, change_dicts(computed), unified_diff(computed),
                             base_commit=checkout.head, repository_url=source.display_url,
                             branch=push.branch if push and push.branch else source.branch)
            outcome.approval, outcome.approved = verdict, verdict.deliver
            if verdict.pending is not None:
                outcome.status = "awaiting-approval"
            return verdict.deliver is not None

        def look_up_releases(result: UpdateResult) -> None:
            if releases is not None and any(release_key(c) not in outcome.releases for c in result.changes):
                new_tags = {key: value.tag for key, value in values.items() if value.tag}
                outcome.releases.update(releases.find_blocking(automation, result.changes, new_tags))

        # Only a template that names Release waits for the lookup (registry reads, a forge's release
        # notes) before its commit; otherwise the notification and pull request get it after the push.
        message_needs_releases = "Release" in (commit.message_template or "")

        def message(result: UpdateResult) -> str:
            if message_needs_releases:
                look_up_releases(result)
            text = render_message(change_records(result, outcome.releases),
                                  AutomationObject(namespace, automation.metadata.name),
                                  template=commit.message_template, values=commit.message_template_values)
            if outcome.approved is not None:
                from imagebot.approval.gate import with_trailer

                text = with_trailer(text, outcome.approved)
            return text

        def before_push(commit: str, ref: str, result: UpdateResult) -> None:
            if store is None:
                return
            if outcome.intent is not None:  # a retry: the previous commit was refused, it never landed
                store.abandon_intent(outcome.intent)
            outcome.intent = store.intend_push(automation.key, source.display_url, ref, commit,
                                               change_dicts(result))

        if spec.schedule and not ignore_schedule:
            window = window_state(spec.schedule, now or datetime.now(UTC))
            if not window.open:
                with Checkout.locked(state_dir / "git", source) as checkout:
                    pending = apply_policies(checkout.workdir, automation, values, write=False)
                outcome.notes = kept_notes(pending)
                outcome.result = pending
                if pending.files:
                    outcome.status, outcome.window_opens = "waiting", window.opens_at
                return outcome

        options = [f"{k}={v}" if v else k for k, v in (push.options if push else {}).items()]
        with Checkout.locked(state_dir / "git", source) as checkout:
            log.debug("checkout ready", extra={"automation": automation.key})
            if store is not None:
                outcome.recovered = reconcile(store, checkout, automation.key)
            delivered = deliver(
                checkout, apply=apply, message=message, author=author, signing=signing(automation, secrets),
                push_branch=push.branch if push else None, refspec=push.refspec if push else None,
                push_options=options, before_push=before_push,
            )
    except (AutomationError, GitError) as err:  # GitError: PushRejected is of kind "push"
        if isinstance(err, PushRejected) and store is not None and outcome.intent is not None:
            store.abandon_intent(outcome.intent)  # refused: certainly not on the remote
        if not isinstance(err, PushRejected):
            outcome.intent = None  # it may have landed (a timeout, a failed extra refspec): the next run asks
        return failed(outcome, err.kind, str(err))
    except MessageTemplateError as err:
        return failed(outcome, FailureKind.CONFIG, str(err))
    except (OSError, ValueError, LookupError) as err:  # secrets, unreadable files, bad values
        return failed(outcome, FailureKind.CONFIG, str(err))
    if delivered is None:
        return outcome
    try:
        look_up_releases(delivered.change)
    except (OSError, ValueError, LookupError) as err:  # best effort: the commit is made, whatever this says
        log.warning("release information not looked up: %s", err, extra={"automation": automation.key})
    if outcome.approved is not None and store is not None:  # pushed now, or the push branch holds it already
        store.approval_delivered(outcome.approved.id, delivered.commit)
    if not delivered.pushed:
        outcome.intent = None
    outcome.commit = delivered.commit
    outcome.branch = delivered.branch
    outcome.result = delivered.change
    outcome.attempts = delivered.attempts
    outcome.pushed = delivered.pushed
    # A push branch that already holds exactly this change: nothing new was delivered.
    outcome.status = "committed" if delivered.pushed else "unchanged"
    return outcome


async def run_automations(
    config: Config, report: ScanReport, secrets: SecretStore, store: Store, state_dir: Path,
    *, automations: list[ImageUpdateAutomation] | None = None, dispatcher: Dispatcher | None = None,
    on_outcome: Callable[[AutomationOutcome], None] | None = None, concurrency: int = 4,
    ignore_schedule: bool = False, releases: ReleaseFinder | None = None,
) -> list[AutomationOutcome]:
    """Every automation, `concurrency` at a time (those sharing a clone take turns at its lock); one
    that fails, even unexpectedly, never stops the others. Outcomes come back in config order."""
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(automation: ImageUpdateAutomation) -> AutomationOutcome:
        async with limit:
            try:
                outcome = await run_automation(config, automation, report, secrets, store, state_dir,
                                               ignore_schedule=ignore_schedule, releases=releases)
            except Exception as err:  # a bug must cost one automation, not the cycle
                log.exception("automation failed unexpectedly", extra={"automation": automation.key})
                outcome = failed(AutomationOutcome(automation, "failed"), FailureKind.INTERNAL,
                                 f"unexpected {type(err).__name__}: {err}")
        _log(outcome)
        if dispatcher is not None:
            _notify(dispatcher, store, outcome)
        if on_outcome:
            on_outcome(outcome)
        return outcome

    chosen = automations if automations is not None else config.automations
    return list(await asyncio.gather(*(one(a) for a in chosen)))


async def run_automation(config: Config, automation: ImageUpdateAutomation, report: ScanReport,
                         secrets: SecretStore, store: Store, state_dir: Path, *,
                         ignore_schedule: bool = False, releases: ReleaseFinder | None = None,
                         ) -> AutomationOutcome:
    """Deliver one automation: commit and push (in a thread: git is blocking), pull request, record."""
    outcome = await asyncio.to_thread(deliver_automation, config, automation, report, secrets, state_dir, store,
                                      ignore_schedule=ignore_schedule, releases=releases)
    if pull_request_pending(store, outcome):
        await open_pull_request(config, outcome, secrets)
    record(store, outcome)
    return outcome


def record(store: Store, outcome: AutomationOutcome) -> None:
    """Store a delivery: a pushed commit, or the pull request opened late for a commit pushed before.

    A push written down as an intent is recorded through it, once: when another run got there first
    (it found the commit on the remote), this outcome no longer owes the notification either."""
    from imagebot.store import Delivery

    if outcome.commit is None or outcome.result is None or not (outcome.pushed or outcome.pull_request_url):
        return
    delivery = Delivery(time.time(), outcome.automation.key, outcome.repository_url, outcome.commit,
                        outcome.branch, outcome.pull_request_url, change_dicts(outcome.result))
    if outcome.intent is None:
        store.record_delivery(delivery)
    elif store.complete_intent(outcome.intent, delivery) is None:
        outcome.intent, outcome.announced_elsewhere = None, True


def _notify(dispatcher: Dispatcher, store: Store, outcome: AutomationOutcome) -> None:
    """The outcome's event, and those of earlier deliveries this run recovered. A delivery's intent is
    `sending` from just before its first request goes out and `notified` once its sends are done (an
    event no Alert wants counts as done): a run killed in between leaves `sending`, never sent again;
    one killed before leaves `recorded`, which the next run sends."""

    def send(event: Event, intent: int | None) -> None:
        if intent is None:
            dispatcher.dispatch(event)
            return
        sent = dispatcher.dispatch(event, on_start=lambda: store.intent_sending(intent),
                                   on_done=lambda: store.intent_notified(intent))
        if sent == 0:
            store.intent_notified(intent)

    from imagebot.approval.events import delivered_event, gate_events

    for intent in outcome.recovered:
        send(recovered_event(outcome.automation, intent), intent.id)
    for approval_event in gate_events(store, outcome):
        dispatcher.dispatch(approval_event)
    event = outcome_event(outcome)
    if event is not None and outcome.approved is not None:
        event = delivered_event(store, outcome, event)
    if event is not None and not outcome.announced_elsewhere:
        send(event, outcome.intent)


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
    elif outcome.status == "waiting":
        opens = outcome.window_opens.isoformat() if outcome.window_opens else "never"
        fields["window_opens"] = opens
        log.info("waiting for window: %d change(s) pending until %s",
                 len(outcome.result.changes) if outcome.result else 0, opens, extra=fields)
    for note in outcome.notes:
        (log.error if note.level == "error" else log.warning)("%s", note, extra=fields)
