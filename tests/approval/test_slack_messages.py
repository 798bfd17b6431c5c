"""The approval messages imagebot sends, checked by the fake Slack's validators, and the validators
themselves against the descriptions they were written from (fixtures/slack/descriptions.json)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from imagebot.approval import Approval
from imagebot.approval.blocks import decided_message, ephemeral
from imagebot.approval.signature import SignatureError, sign, verify
from imagebot.notify import ApprovalNote, Event, ImageChange, ObjectRef, ProviderSettings
from imagebot.notify.slack import SlackNotifier, message
from tests.support.slackfake import DESCRIPTIONS, TOKEN, SlackFake, validate_actions, validate_response
from tests.support.webhookreceiver import validate_slack

ROOT = Path(__file__).resolve().parents[2]


def request_event(action: str = "requested", threads: dict[str, str] | None = None, on_posted=None) -> Event:
    return Event(severity="info", reason="ApprovalRequested", message="approval #7: waits <for> you & me",
                 involved_object=ObjectRef("ImageUpdateAutomation", "team", "fleet"), automation="team/fleet",
                 changes=[ImageChange("apps/app.yaml", "Deployment team/app", "r/app:1.0.0", "r/app:1.1.0")],
                 approval=ApprovalNote(7, action, threads or {}, on_posted))


def test_the_descriptions_record_their_sources() -> None:
    pages = json.loads((ROOT / "fixtures" / "slack" / "descriptions.json").read_text())["source"]["pages"]
    assert all(p["url"].startswith("https://") and p["read"] for p in pages)
    assert {"block_actions", "button", "response_url", "signature"} <= set(DESCRIPTIONS)


def test_a_request_carries_valid_approve_and_reject_buttons() -> None:
    payload = message(request_event())
    assert validate_slack(payload) == [] and validate_actions(payload) == []
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"], e["style"]) for e in actions["elements"]] == [
        ("imagebot.approve", "7", "primary"), ("imagebot.reject", "7", "danger")]
    assert payload["blocks"][-1]["type"] == "context"
    assert all(b["type"] != "actions" for b in message(request_event("superseded"))["blocks"])


@pytest.mark.parametrize(("element", "problem"), [
    ({"style": "warning"}, "style"), ({"text": {"type": "plain_text", "text": "x" * 76}}, "text"),
    ({"text": {"type": "mrkdwn", "text": "Approve"}}, "text"), ({"value": "v" * 2001}, "value"),
    ({"onclick": "x"}, "unknown fields"),
])
def test_the_fake_refuses_buttons_slack_would_refuse(element: dict[str, object], problem: str) -> None:
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Approve"}, **element}
    errors = validate_actions({"blocks": [{"type": "actions", "elements": [button]}]})
    assert errors and problem in errors[0]


def test_decision_messages_are_valid_responses() -> None:
    approval = Approval(7, "team/fleet", None, "main", "a" * 40, [{"file": "apps/a.yaml", "old": "<1>", "new": "&2"}],
                        "f", "", "approved", 1.0, 2.0, "slack:U1", "slack", 1.5)
    assert validate_response(decided_message(approval, "✅ Approved by <@U1>")) == []
    assert validate_response(ephemeral("You are not an approver of <team/fleet> & co.")) == []
    assert validate_response({"replace_original": True, "text": "x", "colour": "red"}) != []


def test_signatures_are_checked_as_slack_describes() -> None:
    body, stamp = b"payload=%7B%7D", "1700000000"
    good = sign(b"secret", stamp, body)
    assert good == SlackFake.signed(b"secret", body, 1700000000)["X-Slack-Signature"]
    assert verify([b"other", b"secret"], stamp, good, body, now=1700000000 + 299) == 1
    for secrets, ts, sig, now in [([b"other"], stamp, good, 1700000000), ([b"secret"], stamp, good, 1700000301),
                                  ([b"secret"], stamp, good.upper(), 1700000000), ([b"secret"], None, good, 0)]:
        with pytest.raises(SignatureError):
            verify(secrets, ts, sig, body, now=now)


def test_the_web_api_threads_follow_ups_and_reports_the_request_ts() -> None:
    posted: list[tuple[str, str, str]] = []
    with SlackFake() as slack:
        settings = ProviderSettings(name="slack", namespace="team", type="slack", address=slack.post_message,
                                    token=TOKEN, channel="deployments")
        notifier = SlackNotifier(settings)
        asyncio.run(notifier.send(request_event(on_posted=lambda *a: posted.append(a))))
        asyncio.run(notifier.send(request_event("superseded", {"team/slack": posted[0][2]})))
        first, second = slack.wait("messages", 2)
        hook = SlackNotifier(ProviderSettings(name="hook", namespace="team", type="slack", address=slack.webhook))
        asyncio.run(hook.send(request_event("superseded", {"team/hook": "1.2"})))
        third = slack.wait("messages", 3)[2]
    assert posted == [("team/slack", "C000", first.ts)]
    assert second.body["thread_ts"] == first.ts and first.errors == second.errors == []
    assert "thread_ts" not in third.body and third.errors == [], "an incoming webhook cannot thread"
