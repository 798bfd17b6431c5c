"""A secretRef without credentials for the registry's host: the error says so, and which hosts the
secret has (before it told the user to set the secretRef they had set)."""

from __future__ import annotations

import asyncio
import json

import pytest

from imagebot.registry import AccessOptions, AuthError, ImageReference, RegistryClient
from tests.support.registry import basic_registry  # noqa: F401 (a fixture)


def test_a_secret_lacking_the_host_names_the_hosts_it_has(basic_registry) -> None:  # noqa: F811
    basic_registry.push_image("creds/lacking", "1.0")
    config = json.dumps({"auths": {"quay.io": {"auth": "dTpw"}, "ghcr.io": {"auth": "dTpw"}}}).encode()
    options = AccessOptions(insecure=True, secret_name="regcred", credentials_config=config)

    async def scan() -> None:
        async with RegistryClient(retries=0) as client:
            await client.list_tags(ImageReference.parse(f"{basic_registry.host}/creds/lacking"), options)

    with pytest.raises(AuthError) as refused:
        asyncio.run(scan())
    assert (f"the registry wants credentials, and secret 'regcred' (.dockerconfigjson) has none for "
            f"{basic_registry.host}: it has ghcr.io, quay.io") in str(refused.value)
