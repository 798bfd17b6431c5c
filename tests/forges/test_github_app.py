"""GitHub Apps: the app JWT checked by a GitHub fake (signature with the app's public key, claims),
installation tokens exchanged, cached, renewed, and kept out of every message."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from imagebot import redact
from imagebot.config.secrets import SecretStore
from imagebot.delivery import githubapp
from imagebot.delivery.githubapp import GitHubApp, GitHubAppError, InstallationTokens
from tests.support.forgefakes import GitHubAppFake

APP_ID = 424242
INSTALLATION = 7001


def _key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


PRIVATE, PUBLIC = _key()


@pytest.fixture
def app_fake() -> Iterator[GitHubAppFake]:
    fake = GitHubAppFake(APP_ID, PUBLIC, {INSTALLATION: "acme", 7002: "octocat"}, users=frozenset({"octocat"}))
    with fake.serve():
        yield fake
    assert not fake.violations, fake.violations


def write_secret(root: Path, name: str, keys: dict[str, str | bytes]) -> SecretStore:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in keys.items():
        (folder / key).write_bytes(value if isinstance(value, bytes) else value.encode())
    return SecretStore(root)


def app_secret(tmp_path: Path, fake: GitHubAppFake, **overrides: str | bytes) -> SecretStore:
    keys: dict[str, str | bytes] = {"githubAppID": str(APP_ID), "githubAppInstallationID": str(INSTALLATION),
                                    "githubAppPrivateKey": PRIVATE, "githubAppBaseURL": fake.api_url}
    keys.update(overrides)
    return write_secret(tmp_path / "secrets", "github-app", {k: v for k, v in keys.items() if v != ""})


def test_the_jwt_is_signed_by_the_app_key_and_one_token_serves_several_uses(
        tmp_path: Path, app_fake: GitHubAppFake) -> None:
    app = GitHubApp.from_secret(app_secret(tmp_path, app_fake), "github-app")
    tokens = InstallationTokens()

    first = tokens.token(app)
    again = [tokens.token(app) for _ in range(3)]

    assert first in app_fake.issued and again == [first] * 3
    assert tokens.exchanges == 1
    assert len(app_fake.calls("POST", f"/app/installations/{INSTALLATION}/access_tokens")) == 1
    [claims] = app_fake.jwts
    assert claims["iss"] == str(APP_ID) and claims["exp"] - claims["iat"] <= 600
    assert claims["iat"] <= time.time()


def test_a_token_near_its_expiry_is_renewed(tmp_path: Path, app_fake: GitHubAppFake) -> None:
    app_fake.token_lifetime = githubapp.RENEW_BEFORE + 1  # expires 1 s after it enters the renewal window
    app = GitHubApp.from_secret(app_secret(tmp_path, app_fake), "github-app")
    tokens = InstallationTokens()

    first = tokens.token(app)
    assert tokens.token(app) == first  # still more than RENEW_BEFORE left
    time.sleep(1.2)
    second = tokens.token(app)

    assert second != first and tokens.exchanges == 2 and second in app_fake.issued


def test_a_refused_token_is_replaced_at_the_next_use(tmp_path: Path, app_fake: GitHubAppFake) -> None:
    app = GitHubApp.from_secret(app_secret(tmp_path, app_fake), "github-app")
    tokens = InstallationTokens()
    first = tokens.token(app)
    tokens.refused("some-other-token")
    assert tokens.token(app) == first

    tokens.refused(first)

    assert tokens.token(app) != first and tokens.exchanges == 2


def test_the_installation_is_found_by_owner(tmp_path: Path, app_fake: GitHubAppFake) -> None:
    secrets = app_secret(tmp_path, app_fake, githubAppInstallationID="", githubAppInstallationOwner="octocat")
    token = InstallationTokens().token(GitHubApp.from_secret(secrets, "github-app"))

    assert token in app_fake.issued
    # Flux's order: the organisation first (octocat is none), then the user
    assert [r.path for r in app_fake.requests] == ["/orgs/octocat/installation", "/users/octocat/installation",
                                                   "/app/installations/7002/access_tokens"]


def test_an_owner_without_the_app_says_so(tmp_path: Path, app_fake: GitHubAppFake) -> None:
    secrets = app_secret(tmp_path, app_fake, githubAppInstallationID="", githubAppInstallationOwner="nobody")
    with pytest.raises(GitHubAppError, match=r"not installed on the organisation or user 'nobody'.*"
                                             r"githubAppInstallationOwner"):
        InstallationTokens().token(GitHubApp.from_secret(secrets, "github-app"))


def test_a_key_of_another_app_is_refused_naming_the_secret_and_key(
        tmp_path: Path, app_fake: GitHubAppFake, caplog: pytest.LogCaptureFixture) -> None:
    other, _ = _key()
    app = GitHubApp.from_secret(app_secret(tmp_path, app_fake, githubAppPrivateKey=other), "github-app")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(GitHubAppError) as caught:
        InstallationTokens().token(app)

    message = str(caught.value)
    assert "401" in message and "secret 'github-app' key 'githubAppPrivateKey'" in message
    assert app_fake.rejected_jwts == 1 and not app_fake.issued
    shown = message + caplog.text
    assert other.decode() not in shown
    for line in other.decode().splitlines()[1:-1]:
        assert line not in shown


def test_a_key_that_is_not_a_key_is_named(tmp_path: Path, app_fake: GitHubAppFake) -> None:
    app = GitHubApp.from_secret(app_secret(tmp_path, app_fake, githubAppPrivateKey="not a key at all"),
                                "github-app")
    with pytest.raises(GitHubAppError, match="secret 'github-app' key 'githubAppPrivateKey' is not an RSA private "
                                             "key"):
        app.jwt()
    assert app_fake.requests == []


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"githubAppID": ""}, "no key 'githubAppID'"),
    ({"githubAppID": "twelve"}, "key 'githubAppID' must be a number"),
    ({"githubAppInstallationID": ""}, "exactly one of the keys 'githubAppInstallationID' and "
                                      "'githubAppInstallationOwner' (neither is set)"),
    ({"githubAppInstallationOwner": "acme"}, "(both are set)"),
    ({"githubAppPrivateKey": ""}, "no key 'githubAppPrivateKey'"),
])
def test_an_incomplete_secret_names_the_key(tmp_path: Path, app_fake: GitHubAppFake,
                                            overrides: dict[str, str], expected: str) -> None:
    with pytest.raises(GitHubAppError) as caught:
        GitHubApp.from_secret(app_secret(tmp_path, app_fake, **overrides), "github-app")
    assert "secret 'github-app'" in str(caught.value) and expected in str(caught.value)


def test_key_jwt_and_token_are_registered_as_secrets(tmp_path: Path, app_fake: GitHubAppFake) -> None:
    app = GitHubApp.from_secret(app_secret(tmp_path, app_fake), "github-app")
    jwt = app.jwt()
    token = InstallationTokens().token(app)

    text = redact.scrub(f"key {PRIVATE.decode()} jwt {jwt} token {token} line {PRIVATE.decode().splitlines()[3]}")

    assert jwt not in text and token not in text and PRIVATE.decode().splitlines()[3] not in text
    assert "RSA" not in text or "PRIVATE KEY" not in text


GIT_REPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: deploy, namespace: flux-system}
spec:
  url: https://github.com/acme/deploy.git
  interval: 5m
  ref: {branch: main}
  provider: github
"""


@pytest.mark.parametrize(("key", "secret_ref", "expected"), [
    (PRIVATE, True, None),
    (b"not a key", True, "secret 'github-app' key 'githubAppPrivateKey' is not an RSA private key"),
    (PRIVATE, False, "provider github needs a secret with the GitHub App's keys"),
    (PRIVATE, "ssh", "which git sends over HTTPS only"),
])
def test_validate_checks_the_app_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str], key: bytes,
                                        secret_ref: bool | str, expected: str | None) -> None:
    from imagebot.cli import main

    (tmp_path / "config").mkdir()
    text = GIT_REPOSITORY + ("  secretRef: {name: github-app}\n" if secret_ref else "")
    if secret_ref == "ssh":
        text = text.replace("https://github.com/", "ssh://git@github.com/")
    (tmp_path / "config" / "git.yaml").write_text(text)
    write_secret(tmp_path / "secrets", "github-app", {"githubAppID": "1", "githubAppInstallationOwner": "acme",
                                                      "githubAppPrivateKey": key})
    code = main(["validate", "-c", str(tmp_path / "config"), "--secrets-dir", str(tmp_path / "secrets")])
    out, err = capsys.readouterr()
    if expected is None:
        assert code == 0, out + err
    else:
        assert code != 0 and expected in out + err, out + err
    assert PRIVATE.decode().splitlines()[2] not in out + err
