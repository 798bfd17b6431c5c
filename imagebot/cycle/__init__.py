"""The whole cycle for ImageUpdateAutomations: scan -> select -> update -> commit -> push -> PR -> record.

Each automation gets the scan's results as plain values (`PolicyValue`) and never talks to a
registry. Git work is blocking (subprocesses), so the async callers run it in a thread.
"""

from imagebot.cycle.automation import deliver_automation, record, run_automation, run_automations
from imagebot.cycle.events import outcome_event, scan_events
from imagebot.cycle.outcome import AutomationError, AutomationOutcome, CycleResult, Status, failed
from imagebot.cycle.pulls import default_body, default_title, open_pull_request, pull_request_pending
from imagebot.cycle.sources import (
    apply_policies,
    change_records,
    checkout_branch,
    git_source,
    policy_values,
    relative_to_repository,
    signing,
    update_root,
)

__all__ = [
    "AutomationError",
    "AutomationOutcome",
    "CycleResult",
    "Status",
    "apply_policies",
    "change_records",
    "checkout_branch",
    "default_body",
    "default_title",
    "deliver_automation",
    "failed",
    "git_source",
    "open_pull_request",
    "outcome_event",
    "policy_values",
    "pull_request_pending",
    "record",
    "relative_to_repository",
    "run_automation",
    "run_automations",
    "scan_events",
    "signing",
    "update_root",
]
