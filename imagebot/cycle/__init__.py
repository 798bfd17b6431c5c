"""The whole cycle for ImageUpdateAutomations: scan -> select -> update -> commit -> push -> PR -> record.

Each automation gets the scan's results as plain values (`PolicyValue`) and never talks to a
registry. Git work is blocking (subprocesses), so the async callers run it in a thread.

Names load from their modules on first use: `imagebot plan` needs `apply_policies` and
`AutomationError`, not git delivery, pull requests and Jinja2 (start-up time of the CLI).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULE_OF = {
    "deliver_automation": "automation", "record": "automation", "run_automation": "automation",
    "run_automations": "automation",
    "outcome_event": "events", "scan_events": "events",
    "AutomationError": "outcome", "AutomationOutcome": "outcome", "CycleResult": "outcome", "Status": "outcome",
    "failed": "outcome",
    "default_body": "pulls", "default_title": "pulls", "open_pull_request": "pulls",
    "pull_request_pending": "pulls",
    "apply_policies": "sources", "change_records": "sources", "checkout_branch": "sources", "git_source": "sources",
    "policy_values": "sources", "relative_to_repository": "sources", "signing": "sources", "update_root": "sources",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"imagebot.cycle.{module}"), name)
    globals()[name] = value
    return value
