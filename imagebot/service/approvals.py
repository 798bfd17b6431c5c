"""The service's side of approval gates: Slack's interaction route, and runs started by a decision."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Route

from imagebot.approval.interactions import PATH, SlackInteractions
from imagebot.service.app import any_method_route
from imagebot.service.serial import Trigger

if TYPE_CHECKING:
    from imagebot.service.runtime import Runtime


def run_approved(runtime: Runtime, automation: str) -> None:
    """An approval was given: run the automation now (it recomputes, and commits only what was approved)."""
    runtime.automations.request(automation, Trigger("approved"))


def approval_route(runtime: Runtime) -> Route:
    interactions = SlackInteractions(runtime.store, lambda: (runtime.generation.config, runtime.secrets),
                                     lambda key: run_approved(runtime, key))
    return any_method_route(PATH, interactions.handle, name="slack-interactions")
