"""Secret files that are not plain files or are too large: a FIFO hung `scan` forever (despite
`spec.timeout`); now every such file is refused with an error naming it, and the size cap."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from imagebot.config import SecretError, SecretStore
from imagebot.config.secrets import MAX_SECRET_BYTES
from tests.adversarial._bounded_cli import run_bounded


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "repo.yaml").write_text(textwrap.dedent("""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: app}
        spec: {image: 127.0.0.1:9/acme/app, interval: 5m, timeout: 5s, insecure: true, secretRef: {name: regcred}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {name: app}
        spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: ">=1"}}}
        """))
    return folder


@pytest.mark.parametrize("command", ["scan", "validate"])
def test_a_fifo_as_a_secret_key_is_refused_not_waited_on(tmp_path: Path, command: str) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "regcred").mkdir(parents=True)
    os.mkfifo(secrets / "regcred" / ".dockerconfigjson")
    config = write_config(tmp_path / "config")
    extra = ["--state-dir", str(tmp_path / "state")] if command == "scan" else []
    # hung forever before: the child's timeout turns a regression into a failure
    result = run_bounded(command, "-c", str(config), "--secrets-dir", str(secrets), *extra, timeout=60)
    assert result.returncode == 1
    assert "secret 'regcred' key '.dockerconfigjson' is not a regular file: refused" in result.stdout + result.stderr


def test_an_oversized_secret_is_refused_naming_the_limit(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "regcred"
    folder.mkdir(parents=True)
    with (folder / ".dockerconfigjson").open("wb") as handle:
        handle.truncate(MAX_SECRET_BYTES + 1)
    with pytest.raises(SecretError, match=r"over the limit of 1048576 bytes \(1 MiB"):
        SecretStore(tmp_path / "secrets").read("regcred", ".dockerconfigjson")
    result = run_bounded("validate", "-c", str(write_config(tmp_path / "config")), "--secrets-dir",
                         str(tmp_path / "secrets"))
    assert result.returncode == 1 and "over the limit of 1048576 bytes" in result.stderr


def test_a_device_as_a_secret_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "regcred"
    folder.mkdir(parents=True)
    # /dev/zero never ends: a link to it inside the folder resolves outside it, and is refused there
    (folder / "token").symlink_to("/dev/zero")
    with pytest.raises(SecretError, match="leads out of the secrets folder"):
        SecretStore(tmp_path / "secrets").read("regcred", "token")


def test_a_folder_where_a_key_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secrets" / "regcred" / "token").mkdir(parents=True)
    with pytest.raises(SecretError, match=r"cannot be read|not a regular file"):
        SecretStore(tmp_path / "secrets").read("regcred", "token")
