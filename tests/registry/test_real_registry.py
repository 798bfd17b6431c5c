"""The registry client against a real CNCF distribution registry: plain, Basic, bearer tokens, TLS."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagebot.registry import (
    AccessOptions,
    AuthError,
    ImageReference,
    NotFound,
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
)
from tests.support.registry import RegistryServer, copy_repository

BUILT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def ref(server: RegistryServer, repository: str) -> ImageReference:
    return ImageReference.parse(server.image(repository))


async def list_head_created(server: RegistryServer, repository: str, tag: str, options: AccessOptions,
                            **client_args) -> tuple[list[str], str, datetime | None]:
    async with RegistryClient(**client_args) as client:
        image = ref(server, repository)
        return (await client.list_tags(image, options), await client.head_digest(image, tag, options),
                await client.created(image, tag, options))


def test_plain_registry_lists_tags_and_reads_digests_and_creation_times(plain_registry):
    docker = plain_registry.push_image("plain/app", "1.0.0", flavour="docker", created=BUILT)
    oci = plain_registry.push_image("plain/app", "1.1.0", flavour="oci")
    oci_index = plain_registry.push_index("plain/app", "multi-oci", flavour="oci", created=BUILT)
    docker_list = plain_registry.push_index("plain/app", "multi-docker", flavour="docker")
    options = plain_registry.access_options()

    async def scan():
        async with RegistryClient() as client:
            image = ref(plain_registry, "plain/app")
            tags = await client.list_tags(image, options)
            digests = {tag: await client.head_digest(image, tag, options)
                       for tag in ("1.0.0", "1.1.0", "multi-oci", "multi-docker")}
            created = {tag: await client.created(image, tag, options) for tag in ("1.0.0", "multi-oci")}
            return tags, digests, created, client.stats

    tags, digests, created, stats = asyncio.run(scan())
    assert sorted(tags) == ["1.0.0", "1.1.0", "multi-docker", "multi-oci"]
    # HEAD gives the digest of what the tag names: the index itself for a multi-arch image.
    assert digests == {"1.0.0": docker.digest, "1.1.0": oci.digest, "multi-oci": oci_index.digest,
                       "multi-docker": docker_list.digest}
    assert oci_index.digest not in {child.digest for child in oci_index.children}
    # The index's time is its linux/amd64 image's (pushed first, at BUILT).
    assert created == {"1.0.0": BUILT, "multi-oci": BUILT}
    assert stats.by_host_status[(plain_registry.host, 200)] == stats.total
    # list, 4 HEADs, manifest + config, index + child; that child's config has the same digest as
    # 1.0.0's (same content), so it comes from the cache: configs are immutable.
    assert stats.total == 1 + 4 + 2 + 2


def test_index_digest_matches_skopeo(plain_registry):
    # skopeo is a second, independent client: the digest of the raw index it fetches is ours.
    pushed = plain_registry.push_index("plain/skopeo", "multi", flavour="docker")
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{plain_registry.image('plain/skopeo', 'multi')}"],
                         check=True, capture_output=True, timeout=60).stdout

    async def head():
        async with RegistryClient() as client:
            return await client.head_digest(ref(plain_registry, "plain/skopeo"), "multi",
                                            plain_registry.access_options())

    assert asyncio.run(head()) == "sha256:" + hashlib.sha256(raw).hexdigest() == pushed.digest


def test_seeded_tags_and_copied_repositories_are_served_by_the_registry(plain_registry):
    pushed = plain_registry.push_image("seed/source", "0.0.1")
    seeded = [f"1.{i}.0" for i in range(300)]
    assert plain_registry.seed_tags("seed/source", seeded) == 300
    copy_repository(plain_registry.storage_root, "seed/source", "seed/copy")

    async def scan():
        async with RegistryClient() as client:
            options = plain_registry.access_options()
            return (await client.list_tags(ref(plain_registry, "seed/copy"), options),
                    await client.head_digest(ref(plain_registry, "seed/copy"), "1.299.0", options))

    tags, digest = asyncio.run(scan())
    assert sorted(tags) == sorted([*seeded, "0.0.1"])
    assert digest == pushed.digest


def test_a_missing_repository_or_tag_is_not_found(plain_registry):
    plain_registry.push_image("plain/exists", "1.0")
    options = plain_registry.access_options()

    async def scan():
        async with RegistryClient() as client:
            with pytest.raises(NotFound) as missing_repo:
                await client.list_tags(ref(plain_registry, "plain/nothing-here"), options)
            with pytest.raises(NotFound) as missing_tag:
                await client.head_digest(ref(plain_registry, "plain/exists"), "9.9", options)
            return str(missing_repo.value), str(missing_tag.value)

    repo_message, tag_message = asyncio.run(scan())
    assert repo_message.startswith(f"{plain_registry.host}/plain/nothing-here: repository not found (404)")
    assert "check spec.image" in repo_message
    assert tag_message.startswith(f"{plain_registry.host}/plain/exists: tag '9.9' not found (404)")


def test_plain_http_is_used_only_when_insecure(plain_registry):
    plain_registry.push_image("plain/secure-only", "1.0")

    async def scan():
        async with RegistryClient(retries=0) as client:
            return await client.list_tags(ref(plain_registry, "plain/secure-only"), AccessOptions())

    with pytest.raises(RegistryUnavailable, match=r"does not speak TLS .* set spec.insecure: true"):
        asyncio.run(scan())


def test_insecure_against_a_tls_registry_says_to_remove_it(tls_registry):
    tls_registry.push_image("tls/plain-attempt", "1.0")

    async def scan():
        async with RegistryClient() as client:
            return await client.list_tags(ref(tls_registry, "tls/plain-attempt"), AccessOptions(insecure=True))

    with pytest.raises(RegistryError, match=r"speaks https, but spec.insecure: true .* remove spec.insecure"):
        asyncio.run(scan())


def test_an_invalid_tag_is_refused_before_any_request(plain_registry):
    async def head():
        async with RegistryClient() as client:
            with pytest.raises(RegistryError, match=r"'../../x' is not a valid tag"):
                await client.head_digest(ref(plain_registry, "plain/app"), "../../x",
                                         plain_registry.access_options())
            return client.stats.total

    assert asyncio.run(head()) == 0


def test_basic_auth_with_credentials_from_the_secret(basic_registry):
    pushed = basic_registry.push_image("basic/app", "2.0")
    tags, digest, created = asyncio.run(list_head_created(
        basic_registry, "basic/app", "2.0", basic_registry.access_options(secret_name="regcred")))
    assert (tags, digest, created) == (["2.0"], pushed.digest, pushed.created)


def test_basic_auth_failures_say_what_to_do_and_never_show_the_password(basic_registry, caplog):
    basic_registry.push_image("basic/guarded", "1.0")
    wrong_password = "not-the-password-xyz"
    wrong = AccessOptions(insecure=True, secret_name="regcred",
                          credentials_config=basic_registry.docker_config(password=wrong_password))
    caplog.set_level(logging.DEBUG)

    async def scan(options):
        async with RegistryClient(retries=0) as client:
            return await client.list_tags(ref(basic_registry, "basic/guarded"), options)

    with pytest.raises(AuthError) as refused:
        asyncio.run(scan(wrong))
    with pytest.raises(AuthError) as anonymous:
        asyncio.run(scan(AccessOptions(insecure=True)))
    assert str(refused.value) == (f"{basic_registry.host}/basic/guarded: authentication failed (401): "
                                  "UNAUTHORIZED authentication required — check the credentials in secret "
                                  "'regcred' (.dockerconfigjson)")
    assert "authentication required (401)" in str(anonymous.value)
    assert f"set spec.secretRef to a docker config secret with credentials for {basic_registry.host}" in str(
        anonymous.value)
    for text in (str(refused.value), repr(refused.value), caplog.text, repr(wrong)):
        assert wrong_password not in text
        assert "Authorization" not in text


def test_bearer_tokens_anonymous_pull_over_tls(token_registry):
    pushed = token_registry.push_index("public/app", "3.0", flavour="oci", created=BUILT)
    before = token_registry.token_server.token_count("")
    tags, digest, created = asyncio.run(list_head_created(
        token_registry, "public/app", "3.0", token_registry.access_options(credentials=False)))
    assert (tags, digest, created) == (["3.0"], pushed.digest, BUILT)
    # One anonymous token serves the listing, the HEAD and the three GETs of the same repository.
    assert token_registry.token_server.token_count("") - before == 1


def test_bearer_tokens_with_credentials_are_cached_per_scope(token_registry):
    token_registry.push_image("private/one", "1.0")
    token_registry.push_image("private/two", "1.0")
    server = token_registry.token_server
    before = server.token_count("alice")
    options = token_registry.access_options()

    async def scan():
        async with RegistryClient() as client:
            for repository in ("private/one", "private/two", "private/one"):
                await client.list_tags(ref(token_registry, repository), options)
                await client.head_digest(ref(token_registry, repository), "1.0", options)
            return client.stats

    stats = asyncio.run(scan())
    assert server.token_count("alice") - before == 2  # one per repository scope
    assert {r.scopes for r in server.requests[-2:]} == {("repository:private/one:pull",),
                                                        ("repository:private/two:pull",)}
    # The challenge is remembered: only the first request to the registry met a 401.
    assert stats.by_host_status[(token_registry.host, 401)] == 1


def test_bearer_tokens_are_fetched_again_after_they_expire(registry_factory, registry_ca):
    server = registry_factory(auth="token", ca=registry_ca, token_expires_in=6)  # 5 s renewal margin
    server.push_image("team/app", "1.0")

    async def scan():
        async with RegistryClient() as client:
            options = server.access_options()
            await client.list_tags(ref(server, "team/app"), options)
            await client.list_tags(ref(server, "team/app"), options)
            time.sleep(1.2)
            await client.list_tags(ref(server, "team/app"), options)

    before = server.token_server.token_count("alice")
    asyncio.run(scan())
    assert server.token_server.token_count("alice") - before == 2


def test_private_repository_needs_credentials_from_the_token_server(registry_factory, caplog):
    caplog.set_level(logging.DEBUG)
    server = registry_factory(auth="token", anonymous_pull=False)
    server.push_image("team/private", "1.0")

    async def scan(options):
        async with RegistryClient(retries=0) as client:
            return await client.list_tags(ref(server, "team/private"), options)

    with pytest.raises(AuthError, match=r"access denied .*insufficient_scope.* set spec.secretRef"):
        asyncio.run(scan(server.access_options(credentials=False)))
    assert asyncio.run(scan(server.access_options())) == ["1.0"]
    with pytest.raises(AuthError) as refused:
        asyncio.run(scan(server.access_options(
            credentials_config=server.docker_config(password="wrong-pw-123"), secret_name="regcred")))
    assert "the token server 127.0.0.1" in str(refused.value)
    assert "refused the credentials (401) — check the credentials in secret 'regcred'" in str(refused.value)
    # Nothing logged at DEBUG (ours, httpx's or httpcore's) carries a password or a token (JWTs start eyJ).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("imagebot"))
    for text in (caplog.text, str(refused.value), ours):
        assert server.password not in text and "wrong-pw-123" not in text
        assert "eyJ" not in text and "Authorization" not in text


def test_identity_token_uses_the_refresh_token_grant(registry_factory, tmp_path):
    server = registry_factory(auth="token", anonymous_pull=False)
    server.push_image("team/oauth", "1.0")
    refresh = server.token_server.issue_refresh_token("alice")
    config = f'{{"auths": {{"{server.host}": {{"identitytoken": "{refresh}"}}}}}}'.encode()

    async def scan():
        async with RegistryClient() as client:
            return await client.list_tags(ref(server, "team/oauth"),
                                          AccessOptions(insecure=True, credentials_config=config))

    assert asyncio.run(scan()) == ["1.0"]
    assert server.token_server.requests[-1].account == "alice"


def test_credentials_never_go_to_a_plain_http_token_server_unless_insecure(registry_factory, registry_ca):
    server = registry_factory(auth="token", ca=registry_ca, anonymous_pull=True, token_server_tls=False)
    server.push_image("team/clear", "1.0")
    before = server.token_server.token_count()

    async def scan(options):
        async with RegistryClient() as client:
            return await client.list_tags(ref(server, "team/clear"), options)

    with pytest.raises(AuthError, match="refusing to send credentials to the plain-http token server"):
        asyncio.run(scan(server.access_options()))
    assert server.token_server.token_count() == before
    assert asyncio.run(scan(server.access_options(credentials=False))) == ["1.0"]  # anonymous is harmless


def test_tls_with_the_ca_from_cert_secret_or_ca_file(tls_registry, registry_ca, tmp_path):
    pushed = tls_registry.push_image("tls/app", "1.0")
    assert asyncio.run(list_head_created(tls_registry, "tls/app", "1.0", tls_registry.access_options()))[1] \
        == pushed.digest
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(registry_ca.cert_pem)
    assert asyncio.run(list_head_created(tls_registry, "tls/app", "1.0", AccessOptions(),
                                         ca_file=ca_file))[0] == ["1.0"]


def test_tls_with_an_unknown_ca_is_refused_with_a_hint(tls_registry):
    tls_registry.push_image("tls/untrusted", "1.0")

    async def scan():
        async with RegistryClient() as client:
            return await client.list_tags(ref(tls_registry, "tls/untrusted"),
                                          AccessOptions(cert_secret_name="registry-ca"))

    started = time.monotonic()
    with pytest.raises(RegistryUnavailable) as refused:
        asyncio.run(scan())
    assert "the TLS certificate of 127.0.0.1" in str(refused.value)
    assert "put the CA that signed it in certSecretRef 'registry-ca' (ca.crt)" in str(refused.value)
    assert time.monotonic() - started < 2  # not retried: retrying cannot fix a certificate


def test_client_certificate_when_the_registry_requires_one(registry_factory, registry_ca):
    server = registry_factory(ca=registry_ca, require_client_cert=True)
    server.push_image("mtls/app", "1.0")

    async def scan(options):
        async with RegistryClient(retries=0) as client:
            return await client.list_tags(ref(server, "mtls/app"), options)

    assert asyncio.run(scan(server.access_options())) == ["1.0"]
    with pytest.raises(RegistryUnavailable, match="client certificate"):
        asyncio.run(scan(AccessOptions(ca_pem=registry_ca.cert_pem)))


def test_broken_client_certificate_material_is_reported(tls_registry, registry_ca):
    async def scan():
        async with RegistryClient() as client:
            return await client.list_tags(ref(tls_registry, "tls/app"), AccessOptions(
                ca_pem=registry_ca.cert_pem, cert_pem=b"not a cert", key_pem=b"not a key",
                cert_secret_name="client-tls"))

    with pytest.raises(RegistryError, match=r"tls.crt and tls.key are not a matching PEM .* secret 'client-tls'"):
        asyncio.run(scan())


def test_docker_config_dir_supplies_credentials(basic_registry, tmp_path: Path):
    basic_registry.push_image("basic/from-docker-config", "1.0")
    (tmp_path / "config.json").write_bytes(basic_registry.docker_config())

    async def scan():
        async with RegistryClient(docker_config_dir=tmp_path) as client:
            return await client.list_tags(ref(basic_registry, "basic/from-docker-config"),
                                          AccessOptions(insecure=True))

    assert asyncio.run(scan()) == ["1.0"]
