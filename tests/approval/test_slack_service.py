"""Approval gates in the running service, through the fake Slack: the request arrives with buttons,
a signed click from an approver commits exactly what was approved, the message is replaced in place,
a newer image supersedes the request in its thread, and a restart keeps what is pending."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.approval._gated_service import SIGNING_SECRET, gated_service, interactions_url, restart
from tests.service_run._stack import REPOSITORY, ROOT
from tests.support.slackfake import Posted, SlackFake


def requests_with_buttons(slack: SlackFake, count: int) -> list[Posted]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [m for m in slack.messages if any(b.get("type") == "actions" for b in m.body.get("blocks", []))]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{count} approval request(s) expected: {[m.body.get('text') for m in slack.messages]}")


def approval_id(message: Posted) -> int:
    [actions] = [b for b in message.body["blocks"] if b["type"] == "actions"]
    values = {e["action_id"]: e["value"] for e in actions["elements"]}
    assert set(values) == {"imagebot.approve", "imagebot.reject"}
    return int(values["imagebot.approve"])


def wait_for_message(slack: SlackFake, needle: str, timeout: float = 20) -> Posted:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(slack.messages):
            if needle in json.dumps(message.body):
                return message
        time.sleep(0.05)
    raise AssertionError(f"no Slack message with {needle!r}: {[m.body.get('text') for m in slack.messages]}")


def test_a_signed_approval_in_slack_commits_exactly_once(tmp_path: Path) -> None:
    with SlackFake(emails={"U0LEAD": "Lead@Example.com"}) as slack, gated_service(tmp_path, slack) as svc:
        before = svc.remote.head()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        [request] = requests_with_buttons(slack, 1)
        assert request.errors == [] and request.path == "/api/chat.postMessage"
        assert "1.0.0" in request.body["text"] + json.dumps(request.body["blocks"])
        number = approval_id(request)
        time.sleep(0.5)
        assert svc.remote.head() == before, "a pending approval commits nothing"

        # someone not among the approvers: told so privately; nothing decided
        answer, _, _ = slack.click(interactions_url(svc), SIGNING_SECRET, number, user="U0STRANGER", response_id=1)
        assert answer.status_code == 200
        [told] = slack.wait("responses", 1)
        assert told.errors == [] and told.body["response_type"] == "ephemeral"
        assert told.body["replace_original"] is False and "not an approver" in told.body["text"]

        # an approver by e-mail (users.info through the bot token), as Slack sends it
        answer, body, headers = slack.click(interactions_url(svc), SIGNING_SECRET, number, user="U0LEAD",
                                            response_id=2)
        assert answer.status_code == 200, answer.text
        after = svc.wait_head_change(before, timeout=20)
        assert svc.remote.parents(after) == [before]
        trailers = [ln for ln in svc.remote.message(after).splitlines() if ln.startswith("Approved-by:")]
        assert trailers == [trailers[0]] and "slack:U0LEAD (u0lead) via slack" in trailers[0]
        assert "U0LEAD" in slack.lookups and "U0STRANGER" in slack.lookups

        replaced = slack.wait("responses", 2)[1]
        assert replaced.errors == [] and replaced.body["replace_original"] is True
        assert "Approved by <@U0LEAD>" in json.dumps(replaced.body)
        assert not any(b["type"] == "actions" for b in replaced.body["blocks"]), "the buttons are gone"

        committed = wait_for_message(slack, after[:7])
        assert committed.body.get("thread_ts") == request.ts, "the commit is announced in the request's thread"
        assert "approved by slack:U0LEAD" in committed.body["text"]

        # the same click again, byte for byte: a replay
        replay = httpx.post(interactions_url(svc), content=body, headers=headers, timeout=10, trust_env=False)
        assert replay.status_code == 401 and "replayed" in replay.text
        time.sleep(0.5)
        assert svc.remote.head() == after and len(svc.remote.log()) == 2

        status = svc.http.get("/status").json()
        assert status["approvals"][0]["id"] == number and status["approvals"][0]["state"] == "delivered"
        assert status["approvals"][0]["decidedBy"].startswith("slack:U0LEAD")


def test_a_newer_image_supersedes_in_the_thread_and_a_restart_keeps_the_request(tmp_path: Path) -> None:
    with SlackFake() as slack, gated_service(tmp_path, slack) as svc:
        before = svc.remote.head()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        [first] = requests_with_buttons(slack, 1)
        svc.registry.push_image(REPOSITORY, "1.2.0")
        second = requests_with_buttons(slack, 2)[1]
        assert "1.2.0" in json.dumps(second.body["blocks"])
        notice = wait_for_message(slack, f"approval #{approval_id(first)} is superseded by #{approval_id(second)}")
        assert notice.body.get("thread_ts") == first.ts and notice.errors == []

        answer, _, _ = slack.click(interactions_url(svc), SIGNING_SECRET, approval_id(first), response_id=1)
        assert answer.status_code == 200
        [old] = slack.wait("responses", 1)
        assert "already superseded" in json.dumps(old.body) and old.errors == []
        time.sleep(0.5)
        assert svc.remote.head() == before

        svc = restart(svc, tmp_path)
        try:
            svc.wait_log("run finished", timeout=20, count=4)
            assert len(requests_with_buttons(slack, 2)) == 2, "the same pending change is not asked again"
            answer, _, _ = slack.click(interactions_url(svc), SIGNING_SECRET, approval_id(second), response_id=2)
            assert answer.status_code == 200
            after = svc.wait_head_change(before, timeout=20)
            assert ":1.2.0" in svc.remote.read("apps/app.yaml") and svc.remote.parents(after) == [before]
        finally:
            svc.stop()


def test_the_service_announces_an_expired_request_in_its_thread(tmp_path: Path) -> None:
    with SlackFake() as slack, gated_service(tmp_path, slack, expires="3s") as svc:
        before = svc.remote.head()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        [first] = requests_with_buttons(slack, 1)
        expired = wait_for_message(slack, f"approval #{approval_id(first)} expired unanswered")
        assert expired.body.get("thread_ts") == first.ts and expired.errors == []
        assert svc.remote.head() == before
        answer, _, _ = slack.click(interactions_url(svc), SIGNING_SECRET, approval_id(first), response_id=1)
        assert answer.status_code == 200
        [late] = slack.wait("responses", 1)
        assert "expired" in json.dumps(late.body) and late.errors == []
        time.sleep(0.5)
        assert svc.remote.head() == before


def test_the_service_delivers_an_approval_made_with_the_cli(tmp_path: Path) -> None:
    with SlackFake() as slack, gated_service(tmp_path, slack) as svc:
        before = svc.remote.head()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        [request] = requests_with_buttons(slack, 1)
        approve = subprocess.run([sys.executable, "-m", "imagebot", "approve", str(approval_id(request)),
                                  "--state-dir", str(tmp_path / "state")], cwd=ROOT, capture_output=True, text=True)
        assert approve.returncode == 0, approve.stderr
        after = svc.wait_head_change(before, timeout=30)
        assert ":1.1.0" in svc.remote.read("apps/app.yaml")
        assert "via cli" in svc.remote.message(after)
        committed = wait_for_message(slack, after[:7])
        assert committed.body.get("thread_ts") == request.ts
        said = wait_for_message(slack, f"approval #{approval_id(request)} approved by ")
        assert said.body.get("thread_ts") == request.ts and " via cli: committing it now" in said.body["text"]
