"""Commit messages: Jinja2 over Flux's template data, Go syntax caught with a translation, the default."""

from __future__ import annotations

import jinja2
import pytest

from imagebot.delivery.message import (
    AutomationObject,
    ChangeRecord,
    MessageTemplateError,
    default_message,
    go_syntax,
    go_to_jinja,
    render_message,
    render_template,
    template_data,
)

AUTOMATION = AutomationObject("flux-system", "apps")
CHANGES = [
    ChangeRecord("apps/app/deployment.yaml", "Deployment", "default", "app",
                 "ghcr.io/example/app:1.2.3", "ghcr.io/example/app:1.3.0", "flux-system:app"),
    ChangeRecord("apps/web/release.yaml", "HelmRelease", "web", "web", "2.0.1", "2.1.0", "flux-system:web:tag"),
    ChangeRecord("apps/web/release.yaml", "HelmRelease", "web", "web", "sha256:" + "a" * 64,
                 "sha256:" + "b" * 64, "flux-system:web:digest"),
]

# Flux's documented example template, in Jinja2.
FLUX_EXAMPLE_JINJA = """Automated image update by {{ AutomationObject.Namespace }}/{{ AutomationObject.Name }}

Files:
{% for file in Changed.FileChanges -%}
- {{ file }}
{% endfor %}
Objects:
{% for object, changes in Changed.Objects.items() -%}
- {{ object.Kind }} {{ object.Name }}
{%- for change in changes %}
  - {{ change.OldValue }} -> {{ change.NewValue }} ({{ change.Setter }})
{%- endfor %}
{% endfor -%}
cluster: {{ Values.cluster }}
"""


def test_jinja_template_over_flux_data() -> None:
    text = render_message(CHANGES, AUTOMATION, template=FLUX_EXAMPLE_JINJA, values={"cluster": "prod-eu"})
    assert text.startswith("Automated image update by flux-system/apps\n\nFiles:\n"
                           "- apps/app/deployment.yaml\n- apps/web/release.yaml\n")
    assert "- Deployment app\n  - ghcr.io/example/app:1.2.3 -> ghcr.io/example/app:1.3.0 (flux-system:app)" in text
    assert "- HelmRelease web\n  - 2.0.1 -> 2.1.0 (flux-system:web:tag)\n  - sha256:aaa" in text
    assert text.endswith("cluster: prod-eu\n")


def test_changes_and_file_changes_shapes() -> None:
    data = template_data(CHANGES, AUTOMATION)
    assert [c.NewValue for c in data.Changed.Changes] == ["ghcr.io/example/app:1.3.0", "2.1.0", "sha256:" + "b" * 64]
    web = data.Changed.FileChanges["apps/web/release.yaml"]
    (obj,) = web.keys()
    assert str(obj) == "HelmRelease/web/web" and len(web[obj]) == 2
    assert render_template("{{ Changed.Changes|length }} {{ Changed.Changes[0] }}", data) == (
        "3 ghcr.io/example/app:1.2.3 -> ghcr.io/example/app:1.3.0"
    )


def test_go_template_gets_an_error_with_its_jinja_equivalent() -> None:
    go = "Update\n{{ range .Changed.Changes }}- {{ .OldValue }} -> {{ .NewValue }}\n{{ end }}"
    with pytest.raises(MessageTemplateError) as err:
        render_message(CHANGES, AUTOMATION, template=go)
    text = str(err.value)
    assert "Go template syntax" in text and "{{ range .Changed.Changes }}" in text
    assert "{% for change in Changed.Changes %}- {{ change.OldValue }} -> {{ change.NewValue }}" in text
    assert "{% endfor %}" in text


def test_go_translation_of_flux_example_renders() -> None:
    go = (
        "Automated image update by {{ .AutomationObject.Name }}\n"
        "{{/* files */}}"
        "{{ range $filename, $_ := .Changed.FileChanges -}}\n- {{ $filename }}\n{{ end -}}\n"
        "{{ range $resource, $changes := .Changed.Objects -}}\n"
        "- {{ $resource.Kind }} {{ $resource.Name }}\n"
        "{{- range $_, $change := $changes }}\n  - {{ $change.OldValue }} -> {{ $change.NewValue }}\n{{ end -}}\n"
        "{{ end -}}\n"
        "{{ if .Values.env }}env={{ .Values.env }}{{ else }}no env{{ end }}\n"
    )
    jinja = go_to_jinja(go)
    assert go_syntax(jinja) is None
    text = render_template(jinja, template_data(CHANGES, AUTOMATION, {"env": "prod"}))
    assert text.startswith("Automated image update by apps\n- apps/app/deployment.yaml\n- apps/web/release.yaml\n")
    assert "- Deployment app\n  - ghcr.io/example/app:1.2.3 -> ghcr.io/example/app:1.3.0\n" in text
    assert text.endswith("env=prod\n")


@pytest.mark.parametrize("template", [
    "{{ .AutomationObject.Name }}",
    "{{- if .Changed.Changes }}x{{ end }}",
    "{{ with .Values }}y{{ end }}",
    "{{ $x := 1 }}",
    "{{/* comment */}}",
])
def test_go_constructs_are_detected(template: str) -> None:
    assert go_syntax(template) is not None


@pytest.mark.parametrize("template", [
    "{{ AutomationObject.Name }}",
    "{% if Changed.Changes %}x{% endif %}",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ range(2)|list }}",
    "plain text",
])
def test_jinja_is_not_mistaken_for_go(template: str) -> None:
    assert go_syntax(template) is None


def test_unknown_name_says_what_is_available() -> None:
    with pytest.raises(MessageTemplateError, match=r"Changed\.FileChanges") as err:
        render_message(CHANGES, AUTOMATION, template="{{ Values.missing }}")
    assert "missing" in str(err.value)


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(MessageTemplateError, match="line 2"):
        render_message(CHANGES, AUTOMATION, template="ok\n{% for x in %}")


def test_templates_are_sandboxed() -> None:
    with pytest.raises(MessageTemplateError):
        render_message(CHANGES, AUTOMATION, template="{{ Values.update({'a': 1}) }}")
    with pytest.raises((MessageTemplateError, jinja2.exceptions.SecurityError)):
        render_message(CHANGES, AUTOMATION, template="{{ ''.__class__.__mro__ }}")


def test_default_message_names_every_change_grouped_by_file() -> None:
    text = render_message(CHANGES, AUTOMATION)
    subject, blank, *body = text.splitlines()
    # two images (app, and web by its tag and digest): images are counted, not changed values
    assert subject == "Update 2 images in apps/: app 1.2.3 -> 1.3.0, and 2 more"  # 72 columns at most
    assert len(subject) <= 72 and blank == ""
    assert body == [
        "apps/app/deployment.yaml",
        "- Deployment default/app: ghcr.io/example/app:1.2.3 -> ghcr.io/example/app:1.3.0 (flux-system:app)",
        "",
        "apps/web/release.yaml",
        "- HelmRelease web/web: 2.0.1 -> 2.1.0 (flux-system:web:tag)",
        f"- HelmRelease web/web: sha256:{'a' * 64} -> sha256:{'b' * 64} (flux-system:web:digest)",
    ]


def test_default_subject_for_one_change_at_the_top_level() -> None:
    one = [ChangeRecord("deploy.yaml", "Deployment", "", "api", "nginx:1.25", "nginx:1.27", "ns:nginx")]
    assert default_message(one).splitlines()[0] == "Update 1 image: nginx 1.25 -> 1.27"


def test_default_subject_dedupes_the_same_bump_in_several_files() -> None:
    twice = [ChangeRecord(f"clusters/{env}/app.yaml", "Deployment", env, "app", "app:1", "app:2", "x:app")
             for env in ("prod", "staging")]
    text = default_message(twice)
    assert text.splitlines()[0] == "Update 1 image in clusters/: app 1 -> 2"
    assert text.count("app:1 -> app:2") == 2


def test_default_subject_counts_images_not_changed_values() -> None:
    # one image written as a full reference, a tag and a digest in three files is one image
    digest_old, digest_new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    three = [
        ChangeRecord("apps/deploy.yaml", "Deployment", "apps", "web", "ghcr.io/o/web:1.0", "ghcr.io/o/web:1.1",
                     "apps:web"),
        ChangeRecord("apps/kustomization.yaml", "Kustomization", "", "", "1.0", "1.1", "apps:web:tag"),
        ChangeRecord("apps/values.yaml", "", "", "", digest_old, digest_new, "apps:web:digest"),
    ]
    assert default_message(three).splitlines()[0].startswith("Update 1 image in apps/: ")


def test_automation_object_prints_as_flux_does() -> None:
    # Flux's AutomationObject is a NamespacedName: {{ .AutomationObject }} prints namespace/name
    text = render_message(CHANGES, AutomationObject("flux-system", "fleet"), template="by {{ AutomationObject }}")
    assert text == "by flux-system/fleet"


def test_a_labelled_object_without_metadata_and_a_values_file_have_one_label() -> None:
    from imagebot.update.changes import ObjectRef, object_label

    # a kustomization.yaml without metadata: no trailing space; a Helm values file: ""
    assert object_label(ObjectRef("kustomize.config.k8s.io/v1beta1", "Kustomization", "", "")) == "Kustomization"
    assert object_label(ObjectRef("apps/v1", "Deployment", "apps", "web")) == "Deployment apps/web"
    assert object_label(None) == ""


def test_the_jinja2_equivalent_of_a_go_template_renders_what_flux_would() -> None:
    go = ("Update by {{ .AutomationObject }}\n"
          "{{ range .Changed.Changes }}- {{ .OldValue }} -> {{ .NewValue }}\n{{ end }}")
    with pytest.raises(MessageTemplateError) as refused:
        render_message(CHANGES, AutomationObject("flux-system", "fleet"), template=go)
    jinja = str(refused.value).split("The Jinja2 equivalent is:\n", 1)[1]
    text = render_message(CHANGES, AutomationObject("flux-system", "fleet"), template=jinja)
    # Flux prints the NamespacedName as namespace/name, then each change
    assert text.splitlines()[0] == "Update by flux-system/fleet"
    assert text.splitlines()[1] == f"- {CHANGES[0].old} -> {CHANGES[0].new}"
