"""The system CAs load on the first TLS handshake (not when a client is built), and are there for it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from imagebot.registry import ImageReference, RegistryClient
from imagebot.registry._tls import build_ssl_context

ROOT = Path(__file__).resolve().parents[2]


def test_a_registry_signed_by_a_system_ca_is_trusted(tls_registry, registry_ca, tmp_path):
    # OpenSSL reads the system CAs from SSL_CERT_FILE when it is set: the registry's CA stands in for them,
    # in a fresh interpreter, with no ca.crt and no --ca-file
    tls_registry.push_image("system-cas/tls", "1.0")
    bundle = tmp_path / "system.pem"
    bundle.write_bytes(registry_ca.cert_pem)
    script = (
        "import asyncio\n"
        "from imagebot.registry import AccessOptions, ImageReference, RegistryClient\n"
        "async def main():\n"
        "    async with RegistryClient() as client:\n"
        f"        print(await client.list_tags(ImageReference.parse({tls_registry.image('system-cas/tls')!r}), "
        "AccessOptions()))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"SSL_CERT_FILE": str(bundle), "PATH": "/usr/bin:/bin", "NO_PROXY": "*"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['1.0']"


def test_a_plain_http_scan_reads_no_ca_bundle(plain_registry):
    registry = plain_registry
    registry.push_image("system-cas/plain", "1.0")

    async def scan() -> list[str]:
        async with RegistryClient() as client:
            image = ImageReference.parse(registry.image("system-cas/plain"))
            tags = await client.list_tags(image, registry.access_options())
            assert all(c.cert_store_stats()["x509_ca"] == 0 for c in contexts(client))
            return tags

    assert asyncio.run(scan()) == ["1.0"]


def test_the_context_verifies_as_the_default_one_does() -> None:
    import ssl

    ours, default = build_ssl_context(), ssl.create_default_context()
    assert (ours.verify_mode, ours.check_hostname, ours.options, ours.minimum_version) == \
        (default.verify_mode, default.check_hostname, default.options, default.minimum_version)
    ours.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.com")
    assert ours.cert_store_stats() == default.cert_store_stats()


def contexts(client: RegistryClient) -> list:
    return [http._transport._pool._ssl_context for http in client._pool._clients.values()]
