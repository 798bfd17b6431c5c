"""Reading Flux policy files: defaults, every problem located by file, line, object and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from imagebot.cli import main
from imagebot.config import ImagePolicy, ImageRepository, load_config, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


REPO = """
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
spec:
  image: ghcr.io/org/app
  interval: 5m
"""

POLICY = """
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: ">=1.0.0"
"""


def test_defaults_follow_flux(tmp_path: Path) -> None:
    write(tmp_path, "a/repo.yaml", REPO)
    write(tmp_path, "b/c/policy.yml", POLICY)
    loaded = load_config(tmp_path)
    assert loaded.errors == []
    repo = loaded.config.repositories[0]
    assert isinstance(repo, ImageRepository)
    assert repo.metadata.namespace == "default"
    assert repo.spec.exclusion_list == ["^.*\\.sig$"]
    assert repo.spec.interval == 300 and repo.spec.effective_timeout == 300
    assert repo.spec.insecure is False and repo.spec.provider == "generic"
    policy = loaded.config.policies[0]
    assert isinstance(policy, ImagePolicy)
    assert loaded.config.repository_for(policy) is repo
    assert policy.spec.digest_reflection_policy == "Never"
    assert policy.origin is not None and policy.origin.file.endswith("b/c/policy.yml")


def test_exclusion_list_is_replaced_not_merged(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", REPO + "  exclusionList: ['^dev-']\n  timeout: 30s\n")
    repo = load_config(tmp_path).config.repositories[0]
    assert repo.spec.exclusion_list == ["^dev-"]
    assert repo.spec.effective_timeout == 30


def test_every_problem_is_reported_with_file_line_object_and_field(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", """
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata:
          name: broken
          namespace: team
        spec:
          image: ghcr.io/org/app
          interval: soon
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata:
          name: orphan
        spec:
          imageRepositoryRef:
            name: missing
          policy:
            alphabetical:
              order: sideways
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata:
          name: dangling
        spec:
          imageRepositoryRef:
            name: missing
          policy:
            numerical: {}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ignored
        """)
    loaded = load_config(tmp_path)
    errors = [str(p) for p in loaded.errors]
    assert any(e.startswith(f"{tmp_path}/bad.yaml:8: ImageRepository team/broken: spec.interval: ")
               and "'soon'" in e for e in errors), errors
    assert any(e.startswith(f"{tmp_path}/bad.yaml:19: ImagePolicy default/orphan: spec.policy.alphabetical.order:")
               and "'sideways'" in e for e in errors), errors
    assert any("ImagePolicy default/dangling: spec.imageRepositoryRef: ImageRepository default/missing does not "
               "exist" in e for e in errors), errors
    assert any("Deployment" in str(n) and "skipped" in str(n) for n in loaded.notes)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.yaml", "apiVersion: v1\nkind: [unclosed\nmetadata: {}\n")
    (problem,) = load_config(tmp_path).errors
    assert problem.file.endswith("broken.yaml") and problem.line is not None and problem.line >= 2
    assert "not valid YAML" in problem.message


def test_unsupported_api_version_and_duplicates(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", REPO)
    write(tmp_path, "two.yaml", REPO)
    write(tmp_path, "old.yaml", REPO.replace("/v1\n", "/v1alpha1\n").replace("name: app", "name: other"))
    errors = [str(p) for p in load_config(tmp_path).errors]
    assert any("duplicate: also defined at" in e and "one.yaml:1" in e for e in errors), errors
    assert any("apiVersion: image.toolkit.fluxcd.io/v1alpha1 is not supported" in e for e in errors), errors


def test_secrets_are_checked_when_a_folder_is_given(tmp_path: Path) -> None:
    write(tmp_path, "cfg/repo.yaml", REPO + "  secretRef:\n    name: regcred\n")
    secrets = tmp_path / "secrets"
    (secrets / "regcred").mkdir(parents=True)
    errors = [str(p) for p in load_config(tmp_path / "cfg", secrets).errors]
    assert any("spec.secretRef: secret 'regcred' has no key '.dockerconfigjson'" in e for e in errors), errors
    # what the secret holds is checked too: credentials for the image's host
    (secrets / "regcred" / ".dockerconfigjson").write_text('{"auths": {"quay.io": {"auth": "dTpw"}}}')
    [error] = load_config(tmp_path / "cfg", secrets).errors
    assert "has no credentials for ghcr.io: it has quay.io" in error.message
    (secrets / "regcred" / ".dockerconfigjson").write_text('{"auths": {"ghcr.io": {"auth": "dTpw"}}}')
    assert load_config(tmp_path / "cfg", secrets).errors == []


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("1m0s", 60), ("0", 0)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "1x", "-1m", "5 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_validate_command_on_examples_and_on_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(ROOT / "policies")]) == 0
    assert "valid" in capsys.readouterr().out
    write(tmp_path, "p.yaml", POLICY)
    assert main(["validate", "-c", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ImagePolicy default/app: spec.imageRepositoryRef: ImageRepository default/app does not exist" in err


def test_a_mounted_configmap_is_read_once_and_hidden_parents_do_not_matter(tmp_path: Path) -> None:
    # The layout Kubernetes gives a ConfigMap volume: files are links into a hidden, timestamped folder.
    mount = tmp_path / ".config" / "imagebot"
    data = mount / "..2026_11_21_10_00_00.123"
    data.mkdir(parents=True)
    (data / "repo.yaml").write_text(textwrap.dedent(REPO).lstrip())
    (mount / "..data").symlink_to(data.name)
    (mount / "repo.yaml").symlink_to("..data/repo.yaml")
    loaded = load_config(mount)
    assert loaded.errors == []
    assert [r.key for r in loaded.config.repositories] == ["default/app"]


def test_yaml_1_2_plain_scalars_with_colons_in_flow_mappings_load(tmp_path: Path) -> None:
    # libyaml (YAML 1.1) refuses `localhost:5000/app` here; YAML 1.2 and Flux users write it
    write(tmp_path, "flow.yaml", """
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: app, namespace: team}
        spec: {image: localhost:5000/team/app, interval: 5m, insecure: true}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {name: app, namespace: team}
        spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: ">=1"}}, interval: sometime}
        """)
    loaded = load_config(tmp_path)
    assert loaded.config.repositories[0].spec.image == "localhost:5000/team/app"
    [error] = loaded.errors
    assert str(error).startswith(f"{tmp_path}/flow.yaml:9: ImagePolicy team/app: spec.interval:")


def test_a_cloud_provider_must_match_the_image_host(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", REPO + "  provider: aws\n")
    [error] = load_config(tmp_path).errors
    assert error.field == "spec.provider" and "not to ghcr.io" in error.message
    assert "ACCOUNT.dkr.ecr.REGION.amazonaws.com" in error.message
    for provider, image in [("aws", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"),
                            ("aws", "public.ecr.aws/org/app"), ("gcp", "europe-docker.pkg.dev/p/r/app"),
                            ("gcp", "eu.gcr.io/p/app"), ("azure", "myreg.azurecr.io/app")]:
        write(tmp_path, "r.yaml", REPO.replace("ghcr.io/org/app", image) + f"  provider: {provider}\n")
        loaded = load_config(tmp_path)
        assert loaded.errors == [] and not [n for n in loaded.notes if n.field == "spec.provider"], image
    write(tmp_path, "r.yaml", REPO.replace("ghcr.io/org/app", "eu.gcr.io/p/app") + "  provider: gcp\n"
          "  secretRef: {name: regcred}\n")
    [note] = [n for n in load_config(tmp_path).notes if n.field]
    assert note.field == "spec.secretRef" and "not used: provider gcp" in note.message
    write(tmp_path, "r.yaml", REPO + "  provider: oracle\n")
    [error] = load_config(tmp_path).errors
    assert error.field == "spec.provider" and "'oracle'" in error.message


def test_receiver_types_imagebot_cannot_verify_are_refused_by_name(tmp_path: Path) -> None:
    write(tmp_path, "recv.yaml", """
        apiVersion: notification.toolkit.fluxcd.io/v1
        kind: Receiver
        metadata: {name: gcr}
        spec:
          type: gcr
          resources: [{kind: ImageRepository, name: app}]
          secretRef: {name: token}
        """)
    write(tmp_path, "repo.yaml", REPO)
    [error] = load_config(tmp_path).errors
    assert error.field == "spec.type" and error.line == 5 and "'gcr'" in error.message and "'github'" in error.message


def test_a_git_repository_without_ref_checks_out_master_as_flux_does(tmp_path: Path) -> None:
    write(tmp_path, "git.yaml", """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet}
        spec: {url: "https://example.com/fleet.git", interval: 5m}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageUpdateAutomation
        metadata: {name: fleet}
        spec:
          interval: 5m
          sourceRef: {kind: GitRepository, name: fleet}
          git: {commit: {author: {name: bot, email: bot@example.com}}}
        """)
    loaded = load_config(tmp_path)
    [automation] = loaded.config.automations
    assert loaded.config.checkout_branch(automation) == "master"
    assert any(n.field == "spec.ref" and "master" in n.message for n in loaded.notes)
