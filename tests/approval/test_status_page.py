"""Approval requests on the status page of the running service: the diff for everyone who may read
the page, Approve and Reject for a logged-in operator only (the same checks as "run now")."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.approval._gated_service import gated_service
from tests.approval.test_slack_service import wait_for_message
from tests.service_run._stack import REPOSITORY, Service
from tests.support.slackfake import SlackFake

OPERATOR_TOKEN = "operator-token-0123456789"


def pending(svc: Service, count: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = svc.http.get("/status/approvals").json()["pending"]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{count} pending approval(s) expected")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def log_in(client: httpx.Client) -> str:
    form = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(form.text), "token": OPERATOR_TOKEN, "next": "/approvals"})
    assert answer.status_code == 303
    return csrf_of(client.get("/approvals").text)


def test_an_operator_approves_and_rejects_on_the_status_page(tmp_path: Path) -> None:
    token_file = tmp_path / "ui-token"
    token_file.write_text(OPERATOR_TOKEN)
    with SlackFake() as slack, gated_service(tmp_path, slack, args=["--ui-token-file", str(token_file)]) as svc:
        before = svc.remote.head()
        svc.registry.push_image(REPOSITORY, "1.1.0")
        [request] = pending(svc, 1)
        badge = '<a class="badge" href="/approvals">awaiting approval</a>'
        deadline = time.monotonic() + 10  # the run that asked is recorded on the board as it ends
        while badge not in svc.http.get("/automations").text and time.monotonic() < deadline:
            time.sleep(0.1)
        assert badge in svc.http.get("/automations").text
        page = svc.http.get("/approvals").text
        assert f"#{request['id']}" in page and "+ " not in page.split('class="diff">')[0]
        diff = page.split('<pre class="diff">')[1].split("</pre>")[0]
        assert "-" in diff and ":1.1.0" in diff and "apps/app.yaml" in diff
        assert '<button disabled title="log in to approve">Approve</button>' in page
        assert f'action="/approvals/{request["id"]}/approve"' not in page, "no working button before logging in"

        anonymous = svc.http.post(f"/approvals/{request['id']}/approve", data={"csrf": "x"})
        assert anonymous.status_code == 403
        with httpx.Client(base_url=f"http://127.0.0.1:{svc.port}", timeout=10, trust_env=False) as client:
            csrf = log_in(client)
            assert f'action="/approvals/{request["id"]}/approve"' in client.get("/approvals").text
            forged = client.post(f"/approvals/{request['id']}/approve", data={"csrf": "stale"})
            assert forged.status_code == 403
            cross_site = client.post(f"/approvals/{request['id']}/approve", data={"csrf": csrf},
                                     headers={"Origin": "https://evil.example"})
            assert cross_site.status_code == 403
            time.sleep(0.3)
            assert svc.remote.head() == before

            approved = client.post(f"/approvals/{request['id']}/approve", data={"csrf": csrf})
            assert approved.status_code == 303 and "state=approved" in approved.headers["location"]
            after = svc.wait_head_change(before, timeout=20)
            message = svc.remote.message(after)
            assert "Approved-by: ui:operator via ui at " in message and f"(approval #{request['id']})" in message
            twice = client.post(f"/approvals/{request['id']}/approve", data={"csrf": csrf})
            assert twice.status_code == 409

            svc.registry.push_image(REPOSITORY, "1.2.0")
            [second] = pending(svc, 1)
            rejected = client.post(f"/approvals/{second['id']}/reject", data={"csrf": csrf})
            assert rejected.status_code == 303
            decided = svc.http.get("/status/approvals").json()["decided"]
            assert {(d["id"], d["state"]) for d in decided} == {(request["id"], "delivered"),
                                                                (second["id"], "rejected")}
            assert svc.http.get("/status/approvals").json()["pending"] == []
            notice = wait_for_message(slack, f"approval #{second['id']} rejected by ui:operator via ui")
            [asked] = [m for m in slack.messages if f"approval #{second['id']}: this change waits" in m.body["text"]]
            assert notice.body.get("thread_ts") == asked.ts and notice.errors == []
            time.sleep(0.5)
            assert svc.remote.head() == after
