"""`git.commit.messageTemplate` in Jinja2 over Flux's template data; Go syntax is refused with its translation."""

from __future__ import annotations

from pathlib import Path

from tests.run.harness import Automation, Workspace, dedent, deployment, explain
from tests.support.gitremotes import make_bare_repo

JINJA = dedent("""
    chore: {{ Changed.Changes|length }} update(s) for {{ AutomationObject.Namespace }}/{{ AutomationObject.Name }}

    {% for change in Changed.Changes -%}
    - {{ change.OldValue }} => {{ change.NewValue }} [{{ change.Setter }}]
    {% endfor -%}
    {% for file, objects in Changed.FileChanges.items() -%}
    file {{ file }}:{% for obj in objects %} {{ obj.Kind }}/{{ obj.Name }}{% endfor %}
    {% endfor -%}
    Ticket: {{ Values.ticket }}
""")

GO = dedent("""
    Automated update
    {{ range .Changed.Changes -}}
    - {{ .OldValue }} -> {{ .NewValue }}
    {{ end -}}
""")


def test_jinja_template_renders_changes_and_values(workspace: Workspace, tmp_path: Path) -> None:
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"deploy/app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.2.0")
    workspace.write_config(Automation(git_url=str(remote.path), commit_extra={
        "messageTemplate": JINJA, "messageTemplateValues": {"ticket": "OPS-42"}}))

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert remote.message(remote.head()).rstrip("\n") + "\n" == (
        "chore: 1 update(s) for flux-system/apps\n"
        "\n"
        f"- {app}:1.0.0 => {app}:1.2.0 [flux-system:app]\n"
        "file deploy/app.yaml: Deployment/app\n"
        "Ticket: OPS-42\n"
    )


def test_go_template_fails_with_its_jinja_equivalent_and_pushes_nothing(workspace: Workspace,
                                                                          tmp_path: Path) -> None:
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.2.0")
    workspace.write_config(Automation(git_url=str(remote.path), commit_extra={"messageTemplate": GO}))
    before = remote.head()

    result = workspace.run()

    assert result.returncode == 1, explain(result)
    assert remote.head() == before
    assert remote.log() == ["initial manifests"]
    # refused with the config, before anything is contacted (as validate refuses it)
    assert "Go template syntax" in result.stderr
    assert "{% for change in Changed.Changes -%}" in result.stderr  # the Jinja2 equivalent, to paste
    assert "{{ change.OldValue }}" in result.stderr
    assert workspace.history() == []
