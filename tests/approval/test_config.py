"""spec.approval in the policy files: what loads, and the errors for what does not."""

from __future__ import annotations

import textwrap
from pathlib import Path

from imagebot.config import LoadedConfig, load_config

AUTOMATION = """\
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: GitRepository
    metadata: {name: fleet, namespace: apps}
    spec: {url: /srv/git/fleet.git, interval: 5m, ref: {branch: main}}
    ---
    apiVersion: image.toolkit.fluxcd.io/v1
    kind: ImageUpdateAutomation
    metadata: {name: fleet, namespace: apps}
    spec:
      interval: 5m
      sourceRef: {kind: GitRepository, name: fleet}
      git:
        commit:
          author: {name: bot, email: bot@example.com}
      approval: %s
    """


def load(tmp_path: Path, approval: str) -> LoadedConfig:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "c.yaml").write_text(textwrap.dedent(AUTOMATION % approval))
    return load_config(tmp_path / "config")


def test_an_approval_gate_loads_with_its_defaults(tmp_path: Path) -> None:
    loaded = load(tmp_path, "{approvers: [U0123ABCD, Lead@Example.com]}")
    assert loaded.errors == []
    [automation] = loaded.config.automations
    gate = automation.spec.approval
    assert gate is not None and gate.required is True and gate.expires_after == 24 * 3600
    assert gate.approvers == ["U0123ABCD", "Lead@Example.com"]
    loaded = load(tmp_path, "{required: true, approvers: [W0ADMIN], expiresAfter: 1h30m}")
    assert loaded.config.automations[0].spec.approval.expires_after == 5400


def test_mistakes_are_errors_naming_the_field(tmp_path: Path) -> None:
    by_field = {p.field: p.message for p in load(tmp_path, "{approvers: [bob], expiresAfter: tomorrow}").errors}
    assert "a Slack user ID (such as U0123ABCD) or an e-mail address" in by_field["spec.approval.approvers[0]"]
    assert "a duration such as 30s, 5m or 1h30m" in by_field["spec.approval.expiresAfter"]
    [typo] = load(tmp_path, "{approverz: [U0123ABCD]}").errors
    assert typo.field == "spec.approval.approverz" and "did you mean `approvers`" in typo.message
