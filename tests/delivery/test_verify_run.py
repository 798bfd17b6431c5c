"""`imagebot run --once` with GitRepository `spec.verify`: a signed head is built on; an unsigned one is
refused, with a failure of kind `git` and an error notification, and nothing is pushed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.gitremotes import GpgTestKey, gpg_test_key, isolated_git_home, make_bare_repo  # noqa: F401
from tests.support.registry import RegistryServer, start_registry
from tests.support.signedcommits import Signers, signed_commit, signers  # noqa: F401
from tests.support.webhookreceiver import WebhookReceiver, webhook_receiver  # noqa: F401

NOTIFICATION = "notification.toolkit.fluxcd.io/v1beta3"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("verify-registry")) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path, registry: RegistryServer, request: pytest.FixtureRequest,
              isolated_git_home: Path) -> Workspace:  # noqa: F811
    return Workspace.for_test(tmp_path, registry, request.node.name, "verify")


def _configure(workspace: Workspace, remote_path: str, receiver: WebhookReceiver) -> None:
    automation = Automation(git_url=remote_path, commit_extra={"signingKey": {"secretRef": {"name": "bot-key"}}})
    docs = automation.documents()
    docs[0]["spec"]["verify"] = {"mode": "HEAD", "secretRef": {"name": "trusted-keys"}}
    workspace.secret("webhook", {"address": receiver.url("/flux")})
    workspace.write_config(extra=[
        *docs,
        {"apiVersion": NOTIFICATION, "kind": "Provider", "metadata": {"name": "hook", "namespace": "flux-system"},
         "spec": {"type": "generic", "secretRef": {"name": "webhook"}}},
        {"apiVersion": NOTIFICATION, "kind": "Alert", "metadata": {"name": "all", "namespace": "flux-system"},
         "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "info",
                  "eventSources": [{"kind": "ImageUpdateAutomation", "name": "*"}]}},
    ])


def test_run_builds_on_a_signed_head_and_refuses_an_unsigned_one(
    workspace: Workspace, tmp_path: Path, signers: Signers, gpg_test_key: GpgTestKey,  # noqa: F811
    webhook_receiver: Callable[..., WebhookReceiver],  # noqa: F811
) -> None:
    receiver = webhook_receiver("generic")
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"README.md": "x\n"})
    signed_commit(remote.url, {"app.yaml": deployment("app", f"{app}:1.0.0")}, signers.pgp["trusted"])
    workspace.push_tags("app", "1.0.0", "1.6.0")
    # imagebot signs its own commits with a key the verify secret holds too: the next run builds on them
    workspace.secret("bot-key", {"git.asc": gpg_test_key.armored_secret, "passphrase": gpg_test_key.passphrase})
    workspace.secret("trusted-keys", {"git.asc": signers.pgp["trusted"].public,
                                      "imagebot.asc": gpg_test_key.armored_public})
    _configure(workspace, str(remote.path), receiver)

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert f"{app}:1.6.0" in remote.read("app.yaml")
    assert receiver.wait_for(1)[0].json()["severity"] == "info"

    workspace.push_tags("app", "1.7.0")
    result = workspace.run()  # on imagebot's own signed commit

    assert result.returncode == 0, explain(result)
    assert f"{app}:1.7.0" in remote.read("app.yaml")

    # someone pushes an unsigned commit; a new tag appears: imagebot must not build on that head
    unsigned = signed_commit(remote.url, {"app.yaml": deployment("app", f"{app}:1.7.0") + "# edited\n"}, None)
    workspace.push_tags("app", "1.8.0")

    result = workspace.run()

    assert result.returncode != 0, explain(result)
    assert remote.head() == unsigned  # nothing pushed on top of it
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("ImageUpdateAutomation flux-system/apps"))
    assert f"failed: commit {unsigned[:12]} at the head of {remote.path.as_uri()} is not signed" in line
    assert "secret 'trusted-keys'" in line
    error = receiver.wait_for(3)[2].json()
    # failure kind git: the reason imagebot gives git failures (as Flux's GitOperationFailed)
    assert (error["severity"], error["reason"]) == ("error", "GitOperationFailed")
    assert f"commit {unsigned[:12]}" in error["message"] and "is not signed" in error["message"]
