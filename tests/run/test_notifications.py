"""A Flux Provider (`generic`) and Alert: the webhook receives an info event for the commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import make_bare_repo
from tests.support.webhookreceiver import WebhookReceiver


def test_generic_provider_gets_an_info_event_for_the_commit(
    workspace: Workspace, tmp_path: Path, webhook_receiver: Callable[..., WebhookReceiver]
) -> None:
    receiver = webhook_receiver("generic")
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.6.0")
    # the address comes from the Provider's secret, as Flux reads it
    workspace.write_config(Automation(git_url=str(remote.path)),
                           extra=workspace.alerting("generic", "hook", receiver.url("/flux")))

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    head = remote.head()
    # run --once drains the notifications before it exits: everything has arrived by now
    [received] = receiver.requests
    assert received.path == "/flux" and received.errors == []
    event = received.json()
    assert event["severity"] == "info"
    assert event["involvedObject"] == {"kind": "ImageUpdateAutomation", "namespace": "flux-system", "name": "apps"}
    assert event["metadata"]["commit"] == head
    assert event["metadata"]["revision"] == f"main@sha1:{head}"
    assert head[:12] in event["message"]
    assert event["changes"] == [{"file": "app.yaml", "object": "Deployment apps/app", "old": f"{app}:1.0.0",
                                 "new": f"{app}:1.6.0"}]
