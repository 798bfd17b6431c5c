"""Credentials from docker config files and credential helpers, found as the docker CLI finds them."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from pathlib import Path

import pytest

from imagebot.registry import AccessOptions, AuthError, ImageReference, RegistryClient
from imagebot.registry.credentials import (
    MAX_CONFIG_BYTES,
    CredentialLookupError,
    DockerConfig,
    load_docker_config,
)

HELPER = """#!/bin/sh
# A docker credential helper for tests: answers for the servers in its table, logs what it was asked.
read -r server
echo "$server" >> "{log}"
case "$server" in
{cases}
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


def install_helper(folder: Path, name: str, answers: dict[str, tuple[str, str]], monkeypatch) -> Path:
    """Write docker-credential-NAME into `folder`, put it first on PATH; returns its request log."""
    log = folder / f"{name}.log"
    cases = "\n".join(
        f"  '{server}') echo '{json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret})}' ;;"
        for server, (user, secret) in answers.items())
    script = folder / f"docker-credential-{name}"
    script.write_text(HELPER.format(log=log, cases=cases))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return log


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def lookup(config: dict | bytes, registry: str):
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    return asyncio.run(DockerConfig.parse(data, "test config").lookup(registry))


@pytest.mark.parametrize(
    ("config", "registry", "expected"),
    [
        ({"auths": {"ghcr.io": {"auth": auth("u", "p:with:colons")}}}, "ghcr.io", ("u", "p:with:colons")),
        ({"auths": {"ghcr.io": {"username": "u2", "password": "p2"}}}, "ghcr.io", ("u2", "p2")),
        ({"auths": {"https://index.docker.io/v1/": {"auth": auth("hub", "pw")}}}, "docker.io", ("hub", "pw")),
        ({"auths": {"https://registry.example.com/v2/": {"auth": auth("x", "y")}}}, "registry.example.com",
         ("x", "y")),
        ({"auths": {"localhost:5000": {"auth": auth("l", "m")}}}, "localhost:5000", ("l", "m")),
        ({"localhost:5000": {"auth": auth("legacy", "cfg")}}, "localhost:5000", ("legacy", "cfg")),
        ({"auths": {"localhost:5000": {"auth": auth("l", "m")}}}, "localhost:5001", None),
        ({"auths": {"ghcr.io": {}}}, "ghcr.io", None),
        ({}, "docker.io", None),
    ],
)
def test_auths_entries_match_docker_host_keys(config, registry, expected):
    found = lookup(config, registry)
    assert (None if found is None else (found.username, found.password)) == expected
    if found is not None:
        assert "password" not in repr(found)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"{not json", "test config is not valid JSON"),
        (b"[]", "is not a JSON object"),
        (json.dumps({"auths": {"ghcr.io": {"auth": "bm9jb2xvbg=="}}}).encode(), "not base64 of user:password"),
        (json.dumps({"auths": [1]}).encode(), "'auths' must be an object"),
    ],
)
def test_unreadable_configs_say_what_is_wrong(data, complaint):
    with pytest.raises(CredentialLookupError, match=complaint):
        DockerConfig.parse(data, "test config")


def test_cred_helpers_run_the_named_helper_with_the_server_on_stdin(tmp_path, monkeypatch):
    log = install_helper(tmp_path, "test", {"https://index.docker.io/v1/": ("hubuser", "hubsecret"),
                                            "ghcr.io": ("<token>", "refresh-token-value")}, monkeypatch)
    config = {"credHelpers": {"docker.io": "test", "ghcr.io": "test"}}
    hub = lookup(config, "docker.io")
    ghcr = lookup(config, "ghcr.io")
    assert (hub.username, hub.password, hub.source) == ("hubuser", "hubsecret",
                                                       "credential helper docker-credential-test")
    assert (ghcr.identity_token, ghcr.password) == ("refresh-token-value", "")
    assert lookup(config, "quay.io") is None  # no helper named for it, no auths entry
    assert log.read_text().splitlines() == ["https://index.docker.io/v1/", "ghcr.io"]


def test_creds_store_serves_every_host_and_falls_back_to_auths(tmp_path, monkeypatch):
    install_helper(tmp_path, "store", {"quay.io": ("q", "qs")}, monkeypatch)
    config = {"credsStore": "store", "auths": {"ghcr.io": {"auth": auth("file", "entry")}}}
    assert (lookup(config, "quay.io").username, lookup(config, "ghcr.io").username) == ("q", "file")


def test_a_missing_helper_is_an_auth_error_naming_it(plain_registry, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "nope-not-installed"}))

    async def scan():
        async with RegistryClient(docker_config_dir=tmp_path) as client:
            return await client.list_tags(ImageReference.parse(plain_registry.image("creds/x")),
                                          AccessOptions(insecure=True))

    with pytest.raises(AuthError, match="credential helper docker-credential-nope-not-installed is not on PATH"):
        asyncio.run(scan())


def test_client_reads_credentials_through_a_helper(basic_registry, tmp_path, monkeypatch):
    basic_registry.push_image("creds/helper", "1.0")
    install_helper(tmp_path, "test", {basic_registry.host: (basic_registry.username, basic_registry.password)},
                   monkeypatch)
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"credHelpers": {basic_registry.host: "test"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))  # the client reads $DOCKER_CONFIG by default

    async def scan():
        async with RegistryClient() as client:
            return await client.list_tags(ImageReference.parse(basic_registry.image("creds/helper")),
                                          AccessOptions(insecure=True))

    assert asyncio.run(scan()) == ["1.0"]


def test_the_secrets_config_comes_before_the_docker_config(basic_registry, tmp_path):
    basic_registry.push_image("creds/order", "1.0")
    (tmp_path / "config.json").write_bytes(basic_registry.docker_config(password="stale-password"))
    options = basic_registry.access_options()  # carries the right credentials

    async def scan(options):
        async with RegistryClient(docker_config_dir=tmp_path, retries=0) as client:
            return await client.list_tags(ImageReference.parse(basic_registry.image("creds/order")), options)

    assert asyncio.run(scan(options)) == ["1.0"]
    # A secret without an entry for this host falls through to the docker config (stale here).
    other_host = AccessOptions(insecure=True, credentials_config=json.dumps(
        {"auths": {"elsewhere.example": {"auth": auth("a", "b")}}}).encode())
    with pytest.raises(AuthError, match=f"check the credentials in {tmp_path / 'config.json'}"):
        asyncio.run(scan(other_host))


def test_no_docker_config_means_anonymous(tmp_path):
    assert load_docker_config(tmp_path / "absent") is None


def test_a_changed_docker_config_is_read_again(tmp_path):
    def write(user: str) -> None:
        (tmp_path / "config.json").write_text(json.dumps({"auths": {"r.example": {"auth": auth(user, "secret1")}}}))

    write("alice")
    first = load_docker_config(tmp_path)
    assert first is not None and first.auths["r.example"].username == "alice"
    assert load_docker_config(tmp_path) is first  # unchanged: not parsed again
    write("bob")  # the same size: another user
    second = load_docker_config(tmp_path)
    assert second is not None and second.auths["r.example"].username == "bob"
    (tmp_path / "config.json").unlink()
    assert load_docker_config(tmp_path) is None


def test_a_hostile_docker_config_is_a_clear_error():
    with pytest.raises(CredentialLookupError, match="nested too deeply"):
        DockerConfig.parse(b"[" * 100_000 + b"]" * 100_000, "secret 'regcred'")
    with pytest.raises(CredentialLookupError, match="larger than 1024 KiB"):
        DockerConfig.parse(b" " * (MAX_CONFIG_BYTES + 1), "secret 'regcred'")
    with pytest.raises(CredentialLookupError, match=r"'password' of 'r\.example' must be a string"):
        DockerConfig.parse(b'{"auths": {"r.example": {"username": "u", "password": 7}}}', "secret 'regcred'")
