"""`validate` on proxySecretRef (ImageRepository, GitRepository, Provider) and GitRepository spec.verify:
the fields load as Flux defines them, and with --secrets-dir every proxy secret and key file is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagebot.cli import main
from tests.support.signedcommits import Signers, signers  # noqa: F401

NS = {"namespace": "flux-system"}


def _docs(verify_mode: str = "HEAD") -> list[dict[str, Any]]:
    return [
        {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository", "metadata": {"name": "app", **NS},
         "spec": {"image": "ghcr.io/acme/app", "interval": "5m", "proxySecretRef": {"name": "corp-proxy"}}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "apps", **NS},
         "spec": {"url": "https://git.example.com/apps.git", "interval": "5m", "ref": {"branch": "main"},
                  "proxySecretRef": {"name": "corp-proxy"},
                  "verify": {"mode": verify_mode, "secretRef": {"name": "trusted-keys"}}}},
        {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
         "metadata": {"name": "hook", **NS},
         "spec": {"type": "generic", "address": "https://hooks.example.com/x",
                  "proxySecretRef": {"name": "hook-proxy"}}},
    ]


def _write(tmp_path: Path, docs: list[dict[str, Any]], secrets: dict[str, dict[str, bytes]]) -> list[str]:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "all.yaml").write_text("".join(f"---\n{json.dumps(d, indent=1)}\n" for d in docs))
    for name, keys in secrets.items():
        (tmp_path / "secrets" / name).mkdir(parents=True)
        for key, value in keys.items():
            (tmp_path / "secrets" / name / key).write_bytes(value)
    return ["validate", "-c", str(tmp_path / "config"), "--secrets-dir", str(tmp_path / "secrets")]


def _good(signers: Signers) -> dict[str, dict[str, bytes]]:  # noqa: F811
    return {"corp-proxy": {"address": b"http://proxy.example:3128\n", "username": b"u", "password": b"Pr0xy-pw-x"},
            "hook-proxy": {"address": b"https://proxy.example:3129"},
            "trusted-keys": {"git.asc": signers.pgp["trusted"].public, "bot.sshpub": signers.ssh["trusted-ssh"].public}}


def test_proxy_secrets_and_verification_keys_that_load_are_valid(
    tmp_path: Path, signers: Signers, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    code = main(_write(tmp_path, _docs(), _good(signers)))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "error" not in err and "Pr0xy-pw-x" not in out + err


@pytest.mark.parametrize(("secret", "key", "value", "expected"), [
    ("corp-proxy", "address", None, "ImageRepository flux-system/app"),
    ("corp-proxy", "address", b"socks5://proxy.example:1080", "must start with http:// or https://"),
    ("hook-proxy", "address", b"http://proxy.example:3128/some/path", "Provider flux-system/hook"),
    ("trusted-keys", "git.asc", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
     "key 'git.asc' holds no OpenPGP public key that gpg can import"),
    ("trusted-keys", "bot.sshpub", b"hello\n", "key 'bot.sshpub' is not a list of SSH public keys"),
])
def test_a_proxy_secret_or_key_that_cannot_work_is_an_error(
    secret: str, key: str, value: bytes | None, expected: str, tmp_path: Path, signers: Signers,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets = _good(signers)
    if value is None:
        del secrets[secret][key]
    else:
        secrets[secret][key] = value

    code = main(_write(tmp_path, _docs(), secrets))

    out, err = capsys.readouterr()
    assert code != 0
    errors = [ln for ln in err.splitlines() if ln.startswith("error") or ": error" in ln]
    assert any(expected in ln and secret in ln for ln in errors), err
    field = {"corp-proxy": "spec.proxySecretRef", "hook-proxy": "spec.proxySecretRef",
             "trusted-keys": "spec.verify.secretRef"}[secret]
    assert any(field in ln for ln in errors), err
    assert "Pr0xy-pw-x" not in out + err


@pytest.mark.parametrize("mode", ["Tag", "TagAndHEAD"])
def test_verifying_a_tag_is_refused_since_imagebot_checks_out_branches(
    mode: str, tmp_path: Path, signers: Signers, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    code = main(_write(tmp_path, _docs(mode), _good(signers)))

    _, err = capsys.readouterr()
    assert code != 0
    assert "GitRepository flux-system/apps" in err and "spec.verify.mode" in err, err
    assert f"mode {mode!r} verifies the tag" in err and "use mode HEAD" in err


def test_an_unknown_mode_is_refused_by_flux_schema(tmp_path: Path, signers: Signers,  # noqa: F811
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_write(tmp_path, _docs("Always"), _good(signers)))
    _, err = capsys.readouterr()
    assert code != 0 and "spec.verify.mode" in err and "Always" in err, err


def test_provider_spec_proxy_is_read_as_flux_reads_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # spec.proxy is deprecated in Flux but still read; its pattern is Flux's own (http or https)
    docs = [{"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
             "metadata": {"name": "hook", **NS},
             "spec": {"type": "generic", "address": "https://hooks.example.com/x", "proxy": "ftp://proxy:21"}}]
    code = main(_write(tmp_path, docs, {}))
    _, err = capsys.readouterr()
    assert code != 0 and "spec.proxy" in err, err


def test_a_percent_sign_in_a_git_proxy_password_is_refused(tmp_path: Path, signers: Signers,  # noqa: F811
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    secrets = _good(signers)
    secrets["corp-proxy"]["password"] = b"50%off-Pr0xy"

    code = main(_write(tmp_path, _docs(), secrets))

    out, err = capsys.readouterr()
    assert code != 0
    [line] = [ln for ln in err.splitlines() if "contains '%'" in ln]
    assert "GitRepository flux-system/apps: spec.proxySecretRef" in line  # the ImageRepository may use it
    assert "50%off" not in out + err
