"""`imagebot scan` against real registries: TLS + token auth, dedup, digests, failures, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registry import CertificateAuthority, RegistryServer, start_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, bytes]]:
    ca = CertificateAuthority()
    with start_registry(tmp_path_factory.mktemp("reg"), auth="token", ca=ca) as registry:
        for tag in ("1.0.0", "1.4.2", "1.10.0", "2.0.0-rc.1", "latest", "1.10.0.sig"):
            registry.push_image("team/app", tag)
        index = registry.push_index("team/multi", "3.1.0")
        registry.push_image("team/multi", "3.0.0")
        registry.index_digest = index.digest  # type: ignore[attr-defined]
        yield registry, ca.cert_pem


def imagebot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imagebot", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def scan_json(config: Path, secrets: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return imagebot("scan", "-c", str(config), "--secrets-dir", str(secrets), "--state-dir", str(state),
                    "--output", "json")


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(textwrap.dedent(text).lstrip())
    return folder


def write_secrets(folder: Path, registry: RegistryServer, ca_pem: bytes) -> Path:
    (folder / "regcred").mkdir(parents=True)
    (folder / "regcred" / ".dockerconfigjson").write_bytes(registry.docker_config())
    (folder / "registry-ca").mkdir()
    (folder / "registry-ca" / "ca.crt").write_bytes(ca_pem)
    return folder


def repo_doc(name: str, image: str, extra: str = "") -> str:
    return f"""
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: {name}, namespace: team}}
spec:
  image: {image}
  interval: 1h
  secretRef: {{name: regcred}}
  certSecretRef: {{name: registry-ca}}
{extra}"""


def policy_doc(name: str, repo: str, policy: str, extra: str = "") -> str:
    return f"""
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: {name}, namespace: team}}
spec:
  imageRepositoryRef: {{name: {repo}}}
  policy: {policy}
{extra}"""


def test_scan_tls_token_registry_prints_latest_tags_and_digests(
    tmp_path: Path, tls_token_registry: tuple[RegistryServer, bytes]
) -> None:
    registry, ca_pem = tls_token_registry
    app = registry.image("team/app")
    multi = registry.image("team/multi")
    config = write_config(tmp_path / "cfg", "".join([
        repo_doc("app", app),
        repo_doc("app-again", app),  # the same repository: listed once
        repo_doc("multi", multi),
        policy_doc("app", "app", "{semver: {range: '>=1.0.0'}}", "  digestReflectionPolicy: Always\n"),
        policy_doc("app-alpha", "app-again", "{alphabetical: {order: asc}}"),
        policy_doc("multi", "multi", "{semver: {range: '3.x'}}", "  digestReflectionPolicy: IfNotPresent\n"),
    ]))
    secrets = write_secrets(tmp_path / "secrets", registry, ca_pem)
    result = scan_json(config, secrets, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    repos = {r["name"]: r for r in report["repositories"]}
    assert repos["app"]["tags"] == 5 and repos["app"]["error"] is None  # the .sig tag is excluded
    assert repos["multi"]["tags"] == 2
    policies = {p["name"]: p for p in report["policies"]}
    assert policies["app"]["latest"]["name"] == app
    assert policies["app"]["latest"]["tag"] == "1.10.0"  # semver, not alphabetical
    assert policies["app"]["latest"]["digest"].startswith("sha256:")
    assert policies["app-alpha"]["latest"]["tag"] == "latest"
    multi_latest = policies["multi"]["latest"]
    assert multi_latest["tag"] == "3.1.0"
    # HEAD of a multi-arch image gives the index digest, exactly what was pushed
    assert multi_latest["digest"] == registry.index_digest  # type: ignore[attr-defined]
    assert registry.password not in result.stdout + result.stderr
    # the registry demands tokens: the scan got them from the token server with the credentials
    assert registry.token_server is not None and registry.token_server.token_count(registry.username) >= 2


def test_scan_reports_failures_per_repository_and_exits_1(
    tmp_path: Path, tls_token_registry: tuple[RegistryServer, bytes]
) -> None:
    registry, ca_pem = tls_token_registry
    config = write_config(tmp_path / "cfg", "".join([
        repo_doc("app", registry.image("team/app")),
        repo_doc("missing", registry.image("team/does-not-exist")),
        repo_doc("down", "127.0.0.1:9/team/app", "  insecure: true\n  timeout: 2s\n"),
        policy_doc("app", "app", "{semver: {range: '>=1.0.0'}}"),
        policy_doc("none", "app", "{semver: {range: '>=5.0.0'}}"),
        policy_doc("down", "down", "{semver: {range: '>=1.0.0'}}"),
    ]))
    secrets = write_secrets(tmp_path / "secrets", registry, ca_pem)
    result = scan_json(config, secrets, tmp_path / "state")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    repos = {r["name"]: r for r in report["repositories"]}
    assert repos["app"]["error"] is None
    assert "team/does-not-exist" in repos["missing"]["error"]
    assert repos["down"]["error"] and "127.0.0.1:9" in repos["down"]["error"]
    policies = {p["name"]: p for p in report["policies"]}
    assert policies["app"]["latest"]["tag"] == "1.10.0"
    assert policies["none"]["latest"] is None and ">=5.0.0" in policies["none"]["error"]
    assert "could not be scanned" in policies["down"]["error"]
    assert registry.password not in result.stdout + result.stderr


def test_scan_text_output_is_a_table(tmp_path: Path, tls_token_registry: tuple[RegistryServer, bytes]) -> None:
    registry, ca_pem = tls_token_registry
    config = write_config(tmp_path / "cfg", repo_doc("app", registry.image("team/app"))
                          + policy_doc("app", "app", "{semver: {range: '~1.4'}}"))
    secrets = write_secrets(tmp_path / "secrets", registry, ca_pem)
    result = imagebot("scan", "-c", str(config), "--secrets-dir", str(secrets), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert "team/app" in result.stdout and "1.4.2" in result.stdout and "ok" in result.stdout


def test_scan_refuses_invalid_config_before_any_request(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", policy_doc("app", "nope", "{semver: {range: '>=1'}}"))
    result = imagebot("scan", "-c", str(config), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1
    assert "ImageRepository team/nope does not exist" in result.stderr


def test_a_missing_secret_fails_only_its_repository(
    tmp_path: Path, tls_token_registry: tuple[RegistryServer, bytes]
) -> None:
    registry, ca_pem = tls_token_registry
    config = write_config(tmp_path / "cfg", "".join([
        repo_doc("app", registry.image("team/app")),
        repo_doc("nosecret", registry.image("team/app")).replace("name: regcred", "name: gone"),
        policy_doc("app", "app", "{semver: {range: '>=1.0.0'}}"),
    ]))
    secrets = write_secrets(tmp_path / "secrets", registry, ca_pem)
    result = scan_json(config, secrets, tmp_path / "state")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    repos = {r["name"]: r for r in report["repositories"]}
    assert repos["app"]["error"] is None
    assert repos["nosecret"]["error"] == f"secret 'gone' not found: expected a folder {secrets}/gone"
    assert {p["name"]: p["latest"]["tag"] for p in report["policies"]} == {"app": "1.10.0"}
    validate = imagebot("validate", "-c", str(config), "--secrets-dir", str(secrets))
    assert validate.returncode == 1
    assert "ImageRepository team/nosecret: spec.secretRef: secret 'gone'" in validate.stderr


def test_exclusion_list_applies_before_the_policy_and_a_bad_one_is_a_config_error(
    tmp_path: Path, tls_token_registry: tuple[RegistryServer, bytes]
) -> None:
    registry, ca_pem = tls_token_registry
    config = write_config(tmp_path / "cfg", "".join([
        repo_doc("no-tens", registry.image("team/app"), "  exclusionList: ['^1[.]10']\n"),
        policy_doc("newest", "no-tens", "{semver: {range: '>=1.0.0'}}"),
    ]))
    secrets = write_secrets(tmp_path / "secrets", registry, ca_pem)
    result = scan_json(config, secrets, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["repositories"][0]["tags"] == 4  # 1.10.0 and 1.10.0.sig excluded
    assert report["policies"][0]["latest"]["tag"] == "1.4.2"

    (config / "config.yaml").write_text((config / "config.yaml").read_text().replace("^1[.]10", "(unclosed"))
    broken = imagebot("scan", "-c", str(config), "--state-dir", str(tmp_path / "state"))
    assert broken.returncode == 1 and broken.stdout == ""
    assert "ImageRepository team/no-tens: spec.exclusionList: " in broken.stderr
    assert "'(unclosed' is not a valid regular expression" in broken.stderr
