"""spec.approval through `imagebot run --once` and the approvals commands, with a real registry and remote:
a change waits, approval gives exactly one commit with its trailer, a newer image supersedes,
rejection and expiry leave the remote untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.run.harness import Automation, Workspace, deployment
from tests.support.gitremotes import BareRemote, make_bare_repo


class Gated(Automation):
    def __init__(self, approval: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.approval = approval

    def documents(self) -> list[dict[str, Any]]:
        docs = super().documents()
        docs[1]["spec"]["approval"] = self.approval
        return docs


def setup(workspace: Workspace, tmp_path: Path, expires: str = "24h") -> BareRemote:
    workspace.push_tags("app", "1.0.0")
    remote = make_bare_repo(tmp_path / "remote.git",
                            {"deploy/app.yaml": deployment("app", f"{workspace.image('app')}:1.0.0")})
    workspace.write_config(Gated({"required": True, "approvers": ["U0APPROVER"], "expiresAfter": expires},
                                 git_url=remote.url, push={"branch": "main"}))
    return remote


def approvals(workspace: Workspace, *extra: str) -> list[dict[str, Any]]:
    result = workspace.imagebot("approvals", "list", "--output", "json", "--state-dir", str(workspace.state), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_json(workspace: Workspace) -> dict[str, Any]:
    result = workspace.imagebot("run", "--once", "-c", str(workspace.config), "--secrets-dir", str(workspace.secrets),
                                "--state-dir", str(workspace.state), "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["automations"][0]


def test_a_push_waits_and_approval_gives_one_commit_with_the_trailer(workspace: Workspace, tmp_path: Path) -> None:
    remote = setup(workspace, tmp_path)
    before = remote.head()
    workspace.push_tags("app", "1.1.0")

    waiting = run_json(workspace)
    assert waiting["status"] == "awaiting-approval" and len(waiting["changes"]) == 1
    assert remote.head() == before, "nothing is committed before approval"
    [pending] = approvals(workspace)
    assert waiting["approval"] == pending["id"]
    text = workspace.run().stdout
    assert f"awaiting approval #{pending['id']} (1 change(s)): imagebot approve {pending['id']}" in text
    assert pending["state"] == "pending" and pending["baseCommit"] == before
    assert [(c["file"], c["old"].rsplit(":", 1)[1], c["new"].rsplit(":", 1)[1]) for c in pending["changes"]] == \
        [("deploy/app.yaml", "1.0.0", "1.1.0")]
    assert "-" in pending["diff"] and ":1.1.0" in pending["diff"]

    assert run_json(workspace)["status"] == "awaiting-approval"  # asking again changes nothing
    assert [a["id"] for a in approvals(workspace)] == [pending["id"]]

    approved = workspace.imagebot("approve", str(pending["id"]), "--state-dir", str(workspace.state))
    assert approved.returncode == 0, approved.stderr
    assert remote.head() == before, "the decision alone commits nothing: the next run does"

    assert run_json(workspace)["status"] == "committed"
    after = remote.head()
    assert remote.parents(after) == [before], "exactly one commit"
    trailer = [line for line in remote.message(after).splitlines() if line.startswith("Approved-by: ")]
    assert len(trailer) == 1 and " via cli at " in trailer[0] and f"(approval #{pending['id']})" in trailer[0]
    assert ":1.1.0" in remote.read("deploy/app.yaml")
    assert approvals(workspace) == []
    [done] = approvals(workspace, "--all")
    assert done["state"] == "delivered" and done["commit"] == after
    assert [d["decision"] for d in done["decisions"]] == ["delivered", "approved", "requested"]

    assert run_json(workspace)["status"] == "unchanged"
    assert remote.head() == after
    history = workspace.imagebot("history", "--state-dir", str(workspace.state))
    assert "approved by" in history.stdout and "via cli" in history.stdout


def test_a_newer_image_supersedes_the_pending_request(workspace: Workspace, tmp_path: Path) -> None:
    remote = setup(workspace, tmp_path)
    before = remote.head()
    workspace.push_tags("app", "1.1.0")
    run_json(workspace)
    [first] = approvals(workspace)
    workspace.push_tags("app", "1.2.0")
    run_json(workspace)
    [second] = approvals(workspace)
    assert second["id"] != first["id"] and second["changes"][0]["new"].endswith(":1.2.0")
    old = next(a for a in approvals(workspace, "--all") if a["id"] == first["id"])
    assert old["state"] == "superseded" and old["supersededBy"] == second["id"]
    refused = workspace.imagebot("approve", str(first["id"]), "--state-dir", str(workspace.state))
    assert refused.returncode == 1 and "already superseded" in refused.stderr
    assert remote.head() == before


def test_an_approved_change_that_no_longer_matches_is_asked_again(workspace: Workspace, tmp_path: Path) -> None:
    remote = setup(workspace, tmp_path)
    before = remote.head()
    workspace.push_tags("app", "1.1.0")
    run_json(workspace)
    [first] = approvals(workspace)
    assert workspace.imagebot("approve", str(first["id"]), "--state-dir", str(workspace.state)).returncode == 0
    workspace.push_tags("app", "1.2.0")  # arrives between the approval and the run

    assert run_json(workspace)["status"] == "awaiting-approval"
    assert remote.head() == before, "1.2.0 was never approved: no silent commit"
    [second] = approvals(workspace)
    assert second["changes"][0]["new"].endswith(":1.2.0") and second["state"] == "pending"


def test_rejection_leaves_the_remote_untouched_and_is_not_asked_again(workspace: Workspace, tmp_path: Path) -> None:
    remote = setup(workspace, tmp_path)
    before = remote.head()
    workspace.push_tags("app", "1.1.0")
    run_json(workspace)
    [pending] = approvals(workspace)
    rejected = workspace.imagebot("reject", str(pending["id"]), "--state-dir", str(workspace.state))
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    assert run_json(workspace)["status"] == "unchanged"
    assert approvals(workspace) == [] and remote.head() == before
    again = workspace.imagebot("approve", str(pending["id"]), "--state-dir", str(workspace.state))
    assert again.returncode == 1 and "already rejected" in again.stderr
    history = workspace.imagebot("history", "--state-dir", str(workspace.state)).stdout
    assert f"approval #{pending['id']} rejected by " in history and " via cli" in history


def test_expiry_drops_the_request_and_leaves_the_remote_untouched(workspace: Workspace, tmp_path: Path) -> None:
    remote = setup(workspace, tmp_path, expires="1s")
    before = remote.head()
    workspace.push_tags("app", "1.1.0")
    run_json(workspace)
    [pending] = approvals(workspace)
    time.sleep(1.2)
    late = workspace.imagebot("approve", str(pending["id"]), "--state-dir", str(workspace.state))
    assert late.returncode == 1 and "expired" in late.stderr
    assert run_json(workspace)["status"] == "unchanged"
    assert remote.head() == before
    [expired] = approvals(workspace, "--all")
    assert expired["state"] == "expired"


def test_an_approved_change_on_a_separate_push_branch_is_not_asked_again(workspace: Workspace, tmp_path: Path) -> None:
    workspace.push_tags("app", "1.0.0")
    remote = make_bare_repo(tmp_path / "remote.git",
                            {"deploy/app.yaml": deployment("app", f"{workspace.image('app')}:1.0.0")})
    workspace.write_config(Gated({"approvers": ["U0APPROVER"]}, git_url=remote.url, push={"branch": "imagebot"}))
    main = remote.head()
    workspace.push_tags("app", "1.1.0")
    run_json(workspace)
    [pending] = approvals(workspace)
    assert workspace.imagebot("approve", str(pending["id"]), "--state-dir", str(workspace.state)).returncode == 0
    assert run_json(workspace)["status"] == "committed"
    branch = remote.head("imagebot")
    assert "Approved-by: " in remote.message(branch)

    again = run_json(workspace)  # main still lacks the change: the approved one stays on its branch
    assert again["status"] == "unchanged" and approvals(workspace) == []
    assert remote.head("imagebot") == branch and remote.head() == main
