"""A forge behind a private CA: trusted with ca_file, refused (with an actionable error) without it."""

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from tests.support.forgefakes import TOKEN, GiteaFake

REQUEST = PullRequestRequest(head="imagebot/updates", base="main", title="t", body="b")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forge test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_ca_file_trusts_a_forge_with_a_private_certificate(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    fake = GiteaFake()
    fake.add_repository("acme/deploy", branches={"main", "imagebot/updates"})
    with fake.serve(tls=tls):
        trusted = forge_for(
            "gitea",
            repository_url="https://code.example.org/acme/deploy",
            api_url=fake.api_url,
            token=TOKEN,
            ca_file=cert_file,
        )
        pr = asyncio.run(trusted.upsert_pull_request(REQUEST))
        assert pr.created and pr.url.startswith("https://127.0.0.1:")

        untrusted = forge_for(
            "gitea", repository_url="https://code.example.org/acme/deploy", api_url=fake.api_url, token=TOKEN
        )
        with pytest.raises(ForgeError) as caught:
            asyncio.run(untrusted.upsert_pull_request(REQUEST))
    assert "TLS certificate is not trusted" in str(caught.value)
    assert fake.api_url in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not fake.violations
