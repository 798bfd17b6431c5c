"""The costly secret checks (TLS material, SSH keys) are remembered by content: a reload that finds a
secret unchanged does not run them again, and one that finds it changed always does."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from imagebot.config import load_config
from tests.support.registry import CertificateAuthority

CONFIG = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: team}
spec: {image: 127.0.0.1:5000/team/app, interval: 5m, certSecretRef: {name: tls}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: team}
spec: {url: "ssh://git@127.0.0.1:2222/fleet.git", interval: 1h, ref: {branch: main}, secretRef: {name: deploy}}
"""


def errors(config: Path, secrets: Path) -> list[str]:
    return [str(p) for p in load_config(config, secrets).errors]


def test_unchanged_secrets_are_not_checked_again_and_changed_ones_are(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config, secrets = tmp_path / "config", tmp_path / "secrets"
    config.mkdir()
    (config / "fleet.yaml").write_text(CONFIG)
    client = CertificateAuthority().issue_client()
    (secrets / "tls").mkdir(parents=True)
    (secrets / "tls" / "tls.crt").write_bytes(client.cert_pem)
    (secrets / "tls" / "tls.key").write_bytes(client.key_pem)
    (secrets / "deploy").mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    (secrets / "deploy" / "identity").write_bytes((tmp_path / "id").read_bytes())
    # ssh-keygen through a wrapper that counts its calls
    wrapper = tmp_path / "bin" / "ssh-keygen"
    wrapper.parent.mkdir()
    real = shutil.which("ssh-keygen")  # openssh-client: scripts/install installs openssh-server
    assert real is not None
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo called >> {tmp_path / "calls"}
        exec {real} "$@"
        """))
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")

    def calls() -> int:
        return len((tmp_path / "calls").read_text().splitlines()) if (tmp_path / "calls").exists() else 0

    assert errors(config, secrets) == []
    checked = calls()
    assert checked == 1
    assert errors(config, secrets) == []
    assert calls() == checked  # nothing changed: nothing run again

    # a broken key and a mismatched certificate are found on the next load, however often the old ones passed
    (secrets / "deploy" / "identity").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nbroken\n"
                                                 "-----END OPENSSH PRIVATE KEY-----\n")
    (secrets / "tls" / "tls.key").write_bytes(CertificateAuthority().issue_client().key_pem)
    found = errors(config, secrets)
    assert calls() == checked + 1
    assert any("secret 'deploy' key 'identity' does not load as an SSH private key" in e for e in found), found
    assert any("secret 'tls': tls.crt and tls.key do not load as a certificate and its key" in e for e in found), found

    # and put right, they pass again
    (secrets / "deploy" / "identity").write_bytes((tmp_path / "id").read_bytes())
    (secrets / "tls" / "tls.key").write_bytes(client.key_pem)
    assert errors(config, secrets) == []
