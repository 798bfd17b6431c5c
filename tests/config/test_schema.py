"""Validation against Flux's own CRD schemas, shipped in the package, with imagebot's extensions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

from imagebot.config import LoadedConfig, load_config
from imagebot.config.schema import _prebuilt, crd_schema, derive_schema, kinds

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, text: str, secrets: Path | None = None) -> LoadedConfig:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "c.yaml").write_text(textwrap.dedent(text))
    return load_config(tmp_path / "config", secrets)


def test_the_crds_ship_inside_the_package_with_their_provenance() -> None:
    folder = resources.files("imagebot.config").joinpath("schemas")
    sources = folder.joinpath("SOURCES.txt").read_text()
    for repo in ("image-reflector-controller", "image-automation-controller", "source-controller",
                 "notification-controller"):
        assert re.search(rf"fluxcd/{repo} [0-9a-f]{{40}}", sources), repo
    assert "Apache" in sources
    for kind in kinds():
        schema = crd_schema(kind)
        assert schema["properties"]["spec"]["additionalProperties"] is False


def test_the_prebuilt_strict_schemas_are_those_the_crds_give() -> None:
    # schemas/strict.json spares every start parsing the CRDs' YAML; `python -m imagebot.config.schema`
    # writes it again after a CRD or imagebot/config/schema.py changed (else it is ignored, and start-up slow)
    assert _prebuilt() is not None, "schemas/strict.json is stale: run `python -m imagebot.config.schema`"
    for kind in kinds():
        assert crd_schema(kind) == derive_schema(kind), kind


def test_a_stale_prebuilt_schema_is_ignored(tmp_path: Path) -> None:
    # a copy of the package whose strict.json says the wrong thing, under a digest that no longer matches
    copy = tmp_path / "imagebot"
    shutil.copytree(ROOT / "imagebot", copy, ignore=shutil.ignore_patterns("__pycache__"))
    strict = copy / "config" / "schemas" / "strict.json"
    document = json.loads(strict.read_text())
    document["kinds"]["ImagePolicy"]["properties"]["spec"]["additionalProperties"] = True
    strict.write_text(json.dumps(document))
    crd = copy / "config" / "schemas" / "image.toolkit.fluxcd.io_imagepolicies.yaml"
    crd.write_text(crd.read_text() + "\n")  # a changed CRD: the digest no longer matches
    script = ("from imagebot.config.schema import _prebuilt, crd_schema\n"
              "assert _prebuilt() is None\n"
              "assert crd_schema('ImagePolicy')['properties']['spec']['additionalProperties'] is False\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_extensions_are_in_the_schema_and_flux_fields_imagebot_ignores_load(tmp_path: Path) -> None:
    loaded = load(tmp_path, """\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: web, namespace: apps, labels: {team: web}, uid: 1c0e, generation: 3}
        spec:
          image: ghcr.io/acme/web
          interval: 5m
          serviceAccountName: puller
          accessFrom: {namespaceSelectors: [{matchLabels: {team: web}}]}
        status: {lastScanResult: {tagCount: 3}, anything: [1, 2]}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1beta2
        kind: ImagePolicy
        metadata: {name: web, namespace: apps}
        spec:
          imageRepositoryRef: {name: web}
          policy: {semver: {range: ">=16", strict: false}}
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet, namespace: apps}
        spec: {url: "file:///srv/git/fleet.git", interval: 5m, ref: {branch: main}, recurseSubmodules: false}
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: local, namespace: apps}
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
              signingKey: {type: ssh, secretRef: {name: signing}}
              messageTemplate: "Update by {{ AutomationObject }}"
            push:
              branch: imagebot
              pullRequest:
                provider: gitea
                url: https://gitea.example.com
                secretRef: {name: forge}
                title: "Update {{ Changed.Changes|length }} images"
                labels: [deps]
                reviewers: [ops]
        """)
    assert loaded.errors == []
    [policy] = loaded.config.policies
    assert policy.spec.policy.semver is not None and policy.spec.policy.semver.strict is False
    [automation] = loaded.config.automations
    assert automation.spec.git.push and automation.spec.git.push.pull_request
    assert automation.spec.git.push.pull_request.provider == "gitea"


@pytest.mark.parametrize(("api_version", "kind", "level", "words"), [
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "note", "Flux kind Kustomization is not one imagebot reads"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "note", "Flux kind HelmRelease"),
    ("source.toolkit.fluxcd.io/v1", "HelmRepository", "note", "Flux kind HelmRepository"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization", "note", "skipped"),
    ("apps/v1", "Deployment", "note", "skipped"),
    ("image.toolkit.fluxcd.io/v1", "ImagePolicyy", "error", "did you mean `ImagePolicy`"),
    ("notification.toolkit.fluxcd.io/v1beta3", "Alerts", "error", "did you mean `Alert`"),
    ("image.toolkit.fluxcd.io/v1", "Banana", "error", "its kinds: ImageRepository, ImagePolicy"),
    ("image.toolkit.fluxcd.oi/v1", "ImagePolicy", "error", "did you mean `image.toolkit.fluxcd.io`"),
    ("source.toolkit.fluxcd.io/v1", "ImagePolicy", "error", "ImagePolicy is in image.toolkit.fluxcd.io"),
])
def test_kinds_in_flux_groups_and_others(tmp_path: Path, api_version: str, kind: str, level: str,
                                         words: str) -> None:
    loaded = load(tmp_path, f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\nspec: {{}}\n")
    [problem] = loaded.problems
    assert problem.level == level and words in problem.message, problem


def test_unknown_fields_are_errors_at_their_line_with_a_suggestion(tmp_path: Path) -> None:
    loaded = load(tmp_path, """\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet}
        spec:
          url: https://git.example.com/fleet.git
          interval: 5m
          ref:
            brnach: main
          zzz: 1
        """)
    by_field = {p.field: p for p in loaded.errors}
    assert by_field["spec.ref.brnach"].line == 8
    assert by_field["spec.ref.brnach"].message == "unknown field `brnach`: did you mean `branch`?"
    assert by_field["spec.zzz"].message.startswith("unknown field `zzz` (known: ")


def test_every_problem_of_an_object_is_reported_at_once(tmp_path: Path) -> None:
    loaded = load(tmp_path, """\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: Web}
        spec: {image: ghcr.io/acme/web, interval: 5, provider: oracle, secretRef: {name: ../x}}
        """)
    fields = sorted(p.field or "" for p in loaded.errors)
    assert fields == ["metadata.name", "spec.interval", "spec.provider", "spec.secretRef.name"]


def test_the_readme_snippets_and_the_example_policies_validate(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    snippets = [s for s in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL) if "apiVersion:" in s]
    assert snippets
    for i, snippet in enumerate(snippets):
        (tmp_path / f"snippet-{i}.yaml").write_text(snippet)
    loaded = load_config(tmp_path)
    assert loaded.errors == [], [str(e) for e in loaded.errors]
    assert len(list(loaded.config.objects())) >= 2
    policies = load_config(ROOT / "policies")
    assert policies.errors == [] and len(list(policies.config.objects())) >= 5


# --- what secrets hold -----------------------------------------------------------------------------

def test_certificates_and_keys_that_load_pass_and_a_mismatched_pair_fails(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets" / "registry-ca"
    secrets.mkdir(parents=True)
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.crt"), "-days",
                        "2", "-subj", f"/CN={name}"], check=True, capture_output=True)
    (secrets / "ca.crt").write_bytes((tmp_path / "a.crt").read_bytes())
    (secrets / "tls.crt").write_bytes((tmp_path / "a.crt").read_bytes())
    (secrets / "tls.key").write_bytes((tmp_path / "a.key").read_bytes())
    text = """\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: web}
        spec: {image: ghcr.io/acme/web, interval: 5m, certSecretRef: {name: registry-ca}}
        """
    assert load(tmp_path, text, tmp_path / "secrets").errors == []
    (secrets / "tls.key").write_bytes((tmp_path / "b.key").read_bytes())
    [error] = load(tmp_path, text, tmp_path / "secrets").errors
    assert "tls.crt and tls.key do not load as a certificate and its key" in error.message


def test_git_ssh_keys_and_signing_keys_are_loaded(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "git-ssh").mkdir(parents=True)
    (secrets / "signing").mkdir()
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (secrets / "git-ssh" / "identity").write_bytes(key.read_bytes())
    (secrets / "signing" / "identity").write_bytes(key.read_bytes())
    text = """\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {name: fleet}
        spec: {url: "ssh://git@git.example.com/fleet.git", interval: 5m, ref: {branch: main},
               secretRef: {name: git-ssh}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageUpdateAutomation
        metadata: {name: fleet}
        spec:
          interval: 5m
          sourceRef: {kind: GitRepository, name: fleet}
          git: {commit: {author: {name: b, email: b@example.com}, signingKey: {type: ssh, secretRef: {name: signing}}}}
        """
    assert load(tmp_path, text, secrets).errors == []
    broken = key.read_bytes().replace(b"\n", b"\nAAAA", 3)
    (secrets / "signing" / "identity").write_bytes(broken)
    [error] = load(tmp_path, text, secrets).errors
    assert error.field == "spec.git.commit.signingKey.secretRef" and "does not load as an SSH private key" in \
        error.message
