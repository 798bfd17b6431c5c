"""Forged, stale, replayed, oversized and hostile Slack interaction callbacks against the running
service: each is refused with the check that failed, and none decides anything or commits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from tests.approval._gated_service import SIGNING_SECRET, gated_service, interactions_url
from tests.service_run._stack import REPOSITORY, Service
from tests.support.gitremotes import isolated_git_home  # noqa: F401
from tests.support.slackfake import SlackFake


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, SlackFake, int, str]]:
    tmp = tmp_path_factory.mktemp("slack-attacks")
    with SlackFake() as slack, gated_service(tmp, slack) as svc:
        before = svc.remote.head()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        deadline = time.monotonic() + 20
        while not slack.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        [request] = slack.messages
        [actions] = [b for b in request.body["blocks"] if b["type"] == "actions"]
        yield svc, slack, int(actions["elements"][0]["value"]), before


def post(svc: Service, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(interactions_url(svc), content=body, headers=headers, timeout=10, trust_env=False)


def form(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def assert_nothing_decided(svc: Service, slack: SlackFake, number: int, before: str) -> None:
    time.sleep(0.2)
    assert slack.responses == [], "a refused callback must not make imagebot call back"
    [approval] = [a for a in svc.http.get("/status").json()["approvals"] if a["id"] == number]
    assert approval["state"] == "pending"
    assert svc.remote.head() == before


def test_a_wrong_signature_is_refused(stack: tuple[Service, SlackFake, int, str]) -> None:
    svc, slack, number, before = stack
    answer, _, _ = slack.click(interactions_url(svc), b"not-the-signing-secret", number)
    assert answer.status_code == 401 and "does not match" in answer.text
    assert_nothing_decided(svc, slack, number, before)


def test_a_tampered_body_is_refused(stack: tuple[Service, SlackFake, int, str]) -> None:
    svc, slack, number, before = stack
    body = form(slack.click_payload(number, "approve", "U0APPROVER", 9))
    headers = slack.signed(SIGNING_SECRET, body)
    answer = post(svc, body.replace(b"U0APPROVER", b"U0APPROVEX"), headers)
    assert answer.status_code == 401
    assert_nothing_decided(svc, slack, number, before)


@pytest.mark.parametrize("offset", [-360, 360, -10**6])  # the exact 300 s edge: test_slack_messages.py
def test_a_stale_or_future_timestamp_is_refused(stack: tuple[Service, SlackFake, int, str], offset: int) -> None:
    svc, slack, number, before = stack
    answer, _, _ = slack.click(interactions_url(svc), SIGNING_SECRET, number, timestamp=int(time.time()) + offset)
    assert answer.status_code == 401 and "from now" in answer.text
    assert_nothing_decided(svc, slack, number, before)


@pytest.mark.parametrize("headers", [
    {"X-Slack-Signature": ""}, {"X-Slack-Request-Timestamp": ""},
    {"X-Slack-Signature": "v1=" + "0" * 64}, {"X-Slack-Signature": "v0=" + "g" * 64},
    {"X-Slack-Request-Timestamp": "1e9"}, {"X-Slack-Request-Timestamp": "9" * 40},
])
def test_missing_or_malformed_signature_headers_are_refused(stack: tuple[Service, SlackFake, int, str],
                                                           headers: dict[str, str]) -> None:
    svc, slack, number, before = stack
    answer, _, _ = slack.click(interactions_url(svc), SIGNING_SECRET, number, headers=headers)
    assert answer.status_code == 401
    assert_nothing_decided(svc, slack, number, before)


def test_a_replayed_request_is_refused_even_when_its_first_use_was_refused_later(
        stack: tuple[Service, SlackFake, int, str]) -> None:
    svc, slack, number, before = stack
    # a signed request whose payload is refused (not a button of ours) still uses up its signature
    body = form({**slack.click_payload(number, "approve", "U0APPROVER", 9), "type": "view_submission"})
    headers = slack.signed(SIGNING_SECRET, body)
    assert post(svc, body, headers).status_code == 400
    again = post(svc, body, headers)
    assert again.status_code == 401 and "replayed" in again.text
    assert_nothing_decided(svc, slack, number, before)


def test_an_oversized_body_is_refused_before_it_is_read(stack: tuple[Service, SlackFake, int, str]) -> None:
    svc, slack, number, before = stack
    body = b"payload=" + b"a" * (300 * 1024)
    answer = post(svc, body, slack.signed(SIGNING_SECRET, body))
    assert answer.status_code == 413
    assert_nothing_decided(svc, slack, number, before)


def test_other_content_types_and_methods_are_refused(stack: tuple[Service, SlackFake, int, str]) -> None:
    svc, slack, number, before = stack
    body = json.dumps(slack.click_payload(number, "approve", "U0APPROVER", 9)).encode()
    assert post(svc, body, {**slack.signed(SIGNING_SECRET, body), "Content-Type": "application/json"}
                ).status_code == 415
    assert svc.http.get("/slack/interactions").status_code == 405
    assert_nothing_decided(svc, slack, number, before)


@pytest.mark.parametrize("change", [
    {"response_url": "http://169.254.169.254/latest/meta-data"},  # somewhere else to make imagebot post
    {"user": {"id": "U1|<!channel>"}},  # mrkdwn control characters in a mention
    {"actions": []}, {"actions": [{"action_id": "imagebot.approve", "value": "1 OR 1=1"}]},
    {"actions": [{"action_id": "imagebot.approve", "value": "9" * 40}]},
])
def test_signed_but_hostile_payloads_are_refused(stack: tuple[Service, SlackFake, int, str],
                                                 change: dict[str, object]) -> None:
    svc, slack, number, before = stack
    body = form({**slack.click_payload(number, "approve", "U0APPROVER", 9), **change})
    answer = post(svc, body, slack.signed(SIGNING_SECRET, body))
    assert answer.status_code == 400
    assert_nothing_decided(svc, slack, number, before)


def test_a_form_with_many_fields_is_refused(stack: tuple[Service, SlackFake, int, str]) -> None:
    svc, slack, number, before = stack
    body = b"&".join(b"f%d=x" % i for i in range(5000))
    answer = post(svc, body, slack.signed(SIGNING_SECRET, body))
    assert answer.status_code == 400
    assert_nothing_decided(svc, slack, number, before)
