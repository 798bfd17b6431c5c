"""A real registry for tests: CNCF distribution (`docker-registry serve`) on 127.0.0.1:0.

Plain http, htpasswd Basic auth, bearer tokens from a token server of our own (ES256 JWTs whose
`kid` is the libtrust fingerprint of the signing key), TLS with a CA made here, and client
certificates (`http.tls.clientcas`). Images are pushed through the Distribution API (docker v2,
OCI, multi-arch indexes); large tag sets are written straight into the filesystem storage.

Use the session fixtures with a repository name of your test's own, or `registry_factory` /
`start_registry` for a registry of your own. Quirks of distribution 2.8: see TESTING.md.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import secrets
import shutil
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

import bcrypt
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from imagebot.registry import AccessOptions

REGISTRY_BINARY = "/usr/bin/docker-registry"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_LAYER_TYPES = {"docker": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "oci": "application/vnd.oci.image.layer.v1.tar+gzip"}
_CONFIG_TYPES = {"docker": "application/vnd.docker.container.image.v1+json",
                 "oci": "application/vnd.oci.image.config.v1+json"}
_MANIFEST_TYPES = {"docker": DOCKER_MANIFEST, "oci": OCI_MANIFEST}
_INDEX_TYPES = {"docker": DOCKER_LIST, "oci": OCI_INDEX}
ALL_MANIFEST_TYPES = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
Flavour = Literal["docker", "oci"]


# ---- certificates ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


class CertificateAuthority:
    """A throwaway CA that issues server certificates for 127.0.0.1 and client certificates."""

    def __init__(self, name: str = "imagebot test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self._name = subject
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_server(self, ip: str = "127.0.0.1", dns: Iterable[str] = ("localhost",)) -> KeyPair:
        names: list[x509.GeneralName] = [x509.IPAddress(IPv4Address(ip))]
        names += [x509.DNSName(d) for d in dns]
        return self._issue(ip, names, ExtendedKeyUsageOID.SERVER_AUTH)

    def issue_client(self, common_name: str = "imagebot") -> KeyPair:
        return self._issue(common_name, [x509.DNSName(common_name)], ExtendedKeyUsageOID.CLIENT_AUTH)

    def _issue(self, common_name: str, names: list[x509.GeneralName], usage: x509.ObjectIdentifier) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem)


# ---- token server ------------------------------------------------------------------------------

def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """distribution's `kid`: base32 of the first 30 bytes of sha256(DER public key), in groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenRequest:
    """What the token server was asked: the account ("" when anonymous) and the scopes."""

    account: str
    scopes: tuple[str, ...]
    granted: bool


class TokenServer:
    """Issues registry tokens like Docker Hub's auth server: GET with Basic, or POST refresh tokens.

    Users in `users` get every action they ask for; anonymous callers get `pull` when
    `anonymous_pull` is set, else a token without access (the registry then answers 401).
    """

    service = "imagebot-test-registry"
    issuer = "imagebot-test-token-server"

    def __init__(self, folder: Path, users: dict[str, str], *, anonymous_pull: bool = False,
                 expires_in: int = 300, tls: KeyPair | None = None) -> None:
        self.users = users
        self.anonymous_pull = anonymous_pull
        self.expires_in = expires_in
        self.refresh_tokens: dict[str, str] = {}
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = libtrust_key_id(self._key.public_key())
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagebot test token signer")])
        signer = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self._key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)).sign(self._key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        self.root_cert_bundle = folder / "token-signer.crt"
        self.root_cert_bundle.write_bytes(signer.public_bytes(serialization.Encoding.PEM))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            cert, key = tls.write(folder, "token-server")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.realm = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="token-server",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def issue_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        return token

    def token_count(self, account: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.granted and (account is None or r.account == account))

    def sign(self, account: str, scopes: Iterable[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = wanted if account else [a for a in wanted if a == "pull" and self.anonymous_pull]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.key_id}
        claims = {"iss": self.issuer, "sub": account, "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 30, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                account = ""
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(user) != password:
                        return self._answer(401, {"details": "incorrect username or password"}, user, query)
                    account = user
                self._answer(200, None, account, query)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                refresh = (form.get("refresh_token") or [""])[0]
                if (form.get("grant_type") or [""])[0] != "refresh_token" or refresh not in server.refresh_tokens:
                    return self._answer(401, {"error": "invalid_grant"}, "", form)
                self._answer(200, None, server.refresh_tokens[refresh], form)

            def _answer(self, status: int, body: dict[str, Any] | None, account: str,
                        query: dict[str, list[str]]) -> None:
                scopes = tuple(s for value in query.get("scope", []) for s in value.split(" ") if s)
                with server._lock:
                    server.requests.append(TokenRequest(account, scopes, status == 200))
                if body is None:
                    token = server.sign(account, scopes)
                    body = {"token": token, "access_token": token, "expires_in": server.expires_in,
                            "issued_at": datetime.now(UTC).isoformat()}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


# ---- the registry ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PushedImage:
    """An image pushed through the API: its manifest (or index) digest and what it is made of."""

    repository: str
    tag: str | None
    digest: str
    media_type: str
    config_digest: str | None = None
    created: datetime | None = None
    children: tuple[PushedImage, ...] = ()


@dataclass
class RegistryServer:
    """A running `docker-registry serve`; `host` is 127.0.0.1:PORT, `storage_root` its filesystem."""

    host: str
    storage_root: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    ca_pem: bytes | None = None  # set when the registry speaks TLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token_server: TokenServer | None = None
    client_cert: KeyPair | None = None  # set when the registry requires client certificates
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.ca_pem is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def image(self, repository: str, tag: str | None = None) -> str:
        """An image reference to `repository` on this registry, as a user writes it."""
        return f"{self.host}/{repository}" + (f":{tag}" if tag else "")

    def docker_config(self, username: str | None = None, password: str | None = None) -> bytes:
        """A `.dockerconfigjson` with this registry's credentials (or the ones given)."""
        user, secret = username or self.username or "", password or self.password or ""
        auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": auth}}}).encode()

    def access_options(self, *, credentials: bool = True, **overrides: Any) -> AccessOptions:
        """AccessOptions that reach this registry: its CA, client cert, http when plain, credentials."""
        values: dict[str, Any] = {"insecure": not self.tls, "ca_pem": self.ca_pem}
        if credentials and self.username:
            values["credentials_config"] = self.docker_config()
        if self.client_cert is not None:
            values["cert_pem"], values["key_pem"] = self.client_cert.cert_pem, self.client_cert.key_pem
        values.update(overrides)
        return AccessOptions(**values)

    # -- pushing through the Distribution API --

    def push_image(self, repository: str, tag: str | None, *, flavour: Flavour = "docker",
                   created: datetime | None = None, platform: tuple[str, ...] = ("linux", "amd64"),
                   config_created: bool = True, annotations: dict[str, str] | None = None) -> PushedImage:
        """Push a one-layer image (docker v2 or OCI manifest) and tag it; returns its digest.

        `platform` is (os, architecture[, variant]); `config_created=False` leaves `created` out of the
        config; `annotations` go on the manifest (OCI)."""
        created = created or datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        layer, diff_id = _layer_blob()
        document: dict[str, Any] = {
            "architecture": platform[1], "os": platform[0],
            "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {},
        }
        if len(platform) > 2:
            document["variant"] = platform[2]
        if config_created:
            document["created"] = created.isoformat().replace("+00:00", "Z")
        config = json.dumps(document, sort_keys=True).encode()
        config_digest = self.push_blob(repository, config)
        layer_digest = self.push_blob(repository, layer)
        manifest = {
            "schemaVersion": 2, "mediaType": _MANIFEST_TYPES[flavour],
            "config": {"mediaType": _CONFIG_TYPES[flavour], "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": _LAYER_TYPES[flavour], "size": len(layer), "digest": layer_digest}],
        }
        if annotations:
            manifest["annotations"] = annotations
        digest = self.put_manifest(repository, tag, manifest)
        return PushedImage(repository, tag, digest, _MANIFEST_TYPES[flavour], config_digest, created)

    def push_index(self, repository: str, tag: str, *, flavour: Flavour = "oci",
                   platforms: Iterable[tuple[str, ...]] = (("linux", "amd64"), ("linux", "arm64")),
                   created: datetime | None = None, annotations: dict[str, str] | None = None) -> PushedImage:
        """Push one image per platform (by digest) and a multi-arch index (OCI) or list (docker) as `tag`.

        A platform is (os, architecture[, variant]); `annotations` go on the index."""
        created = created or datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        platforms = list(platforms)
        children = []
        for offset, platform in enumerate(platforms):
            children.append(self.push_image(repository, None, flavour=flavour, platform=platform,
                                            created=created + timedelta(seconds=offset)))
        entries = []
        for child, platform in zip(children, platforms, strict=True):
            body = self._manifest_bytes(repository, child.digest)
            stated = {"architecture": platform[1], "os": platform[0]}
            if len(platform) > 2:
                stated["variant"] = platform[2]
            entries.append({"mediaType": child.media_type, "size": len(body), "digest": child.digest,
                            "platform": stated})
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": _INDEX_TYPES[flavour], "manifests": entries}
        if annotations:
            index["annotations"] = annotations
        digest = self.put_manifest(repository, tag, index)
        return PushedImage(repository, tag, digest, _INDEX_TYPES[flavour], None, created, tuple(children))

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        # distribution 2.8 has no single-request upload: POST for a session, then PUT with the digest.
        started = self._request("POST", f"/v2/{repository}/blobs/uploads/", expect=202)
        location = httpx.URL(self.url).join(started.headers["Location"])
        self._request("PUT", str(location.copy_merge_params({"digest": digest})), content=data,
                      headers={"Content-Type": "application/octet-stream"}, expect=201)
        return digest

    def put_manifest(self, repository: str, reference: str | None, manifest: dict[str, Any]) -> str:
        """PUT a manifest under a tag (or by digest when `reference` is None); returns its digest."""
        body = json.dumps(manifest, indent=2).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        answer = self._request("PUT", f"/v2/{repository}/manifests/{reference or digest}", content=body,
                               headers={"Content-Type": manifest["mediaType"]}, expect=201)
        assert answer.headers["Docker-Content-Digest"] == digest
        return digest

    def _manifest_bytes(self, repository: str, digest: str) -> bytes:
        return self._request("GET", f"/v2/{repository}/manifests/{digest}",
                             headers={"Accept": ALL_MANIFEST_TYPES}, expect=200).content

    def _request(self, method: str, path: str, *, expect: int, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            verify: ssl.SSLContext | bool = True
            if self.ca_pem:
                verify = ssl.create_default_context(cadata=self.ca_pem.decode())
                if self.client_cert is not None:
                    cert, key = self.client_cert.write(self.log_path.parent / "pusher", "client")
                    verify.load_cert_chain(cert, key)
            auth = _PushAuth(self.username, self.password) if self.username else None
            self._http = httpx.Client(base_url=self.url, verify=verify, auth=auth, timeout=30, trust_env=False)
        response = self._http.request(method, path, **kwargs)
        if response.status_code != expect:
            raise AssertionError(f"{method} {path}: expected {expect}, got {response.status_code}: "
                                 f"{response.text[:300]}")
        return response

    # -- writing storage directly --

    def seed_tags(self, repository: str, tags: Iterable[str], digest: str | None = None) -> int:
        return seed_tags(self.storage_root, repository, tags, digest)

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.token_server is not None:
            self.token_server.close()


class _PushAuth(httpx.Auth):
    """The test side's own Basic/Bearer handling for pushes (independent of imagebot's client)."""

    requires_response_body = True

    def __init__(self, username: str, password: str | None) -> None:
        self._basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._tokens: dict[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        repository = _repository_of(request.url.path)
        if repository in self._tokens:
            request.headers["Authorization"] = self._tokens[repository]
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("basic"):
            self._tokens[repository] = self._basic
        else:
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            token_request = httpx.Request("GET", params["realm"], headers={"Authorization": self._basic},
                                          params={"service": params["service"],
                                                  "scope": f"repository:{repository}:pull,push"})
            token_response = yield token_request
            self._tokens[repository] = "Bearer " + token_response.json()["token"]
        request.headers["Authorization"] = self._tokens[repository]
        yield request


def _repository_of(path: str) -> str:
    match = re.match(r"/v2/(.+?)/(?:blobs|manifests|tags)/", path)
    return match.group(1) if match else ""


_LAYER: tuple[bytes, str] | None = None


def _layer_blob() -> tuple[bytes, str]:
    """A small real gzipped tar layer and its diff id (sha256 of the tar), the same for every image."""
    global _LAYER
    if _LAYER is None:
        tar_buffer = io.BytesIO()
        with tarfile.open(fileobj=tar_buffer, mode="w") as archive:
            payload = b"imagebot test layer\n"
            info = tarfile.TarInfo("hello.txt")
            info.size, info.mtime = len(payload), 0
            archive.addfile(info, io.BytesIO(payload))
        tar = tar_buffer.getvalue()
        _LAYER = gzip.compress(tar, mtime=0), "sha256:" + hashlib.sha256(tar).hexdigest()
    return _LAYER


def seed_tags(storage_root: Path, repository: str, tags: Iterable[str], digest: str | None = None) -> int:
    """Point many tags at one manifest by writing tag links straight into the registry's storage.

    The manifest must have been pushed to `repository` once; `digest` defaults to the one an
    existing tag points to. Much faster than the API (10,000 tags in seconds). Returns the count.
    """
    manifests = storage_root / "docker/registry/v2/repositories" / repository / "_manifests"
    if digest is None:
        existing = sorted((manifests / "tags").glob("*/current/link"))
        if not existing:
            raise ValueError(f"{repository}: push one tagged manifest before seeding tags")
        digest = existing[0].read_text().strip()
    if not (manifests / "revisions" / digest.replace(":", "/") / "link").exists():
        raise ValueError(f"{repository}: manifest {digest} was never pushed to this repository")
    algorithm, hex_digest = digest.split(":", 1)
    content = digest.encode()
    tags_folder = manifests / "tags"
    tags_folder.mkdir(exist_ok=True)
    count = 0
    for tag in tags:
        # Parents first, so that no mkdir fails and retries: this runs for 100,000 tags in the benchmark.
        tag_folder = tags_folder / tag
        tag_folder.mkdir(exist_ok=True)
        (tag_folder / "current").mkdir(exist_ok=True)
        index = tag_folder / "index" / algorithm / hex_digest
        index.mkdir(parents=True, exist_ok=True)
        (tag_folder / "current" / "link").write_bytes(content)
        (index / "link").write_bytes(content)
        count += 1
    return count


def copy_repository(storage_root: Path, source: str, target: str) -> None:
    """Make `target` a copy of `source` (tags, manifests, layer links): repositories hold only links."""
    base = storage_root / "docker/registry/v2/repositories"
    shutil.copytree(base / source, base / target)


@contextmanager
def start_registry(folder: Path, *, auth: Literal[None, "htpasswd", "token"] = None,
                   ca: CertificateAuthority | None = None, require_client_cert: bool = False,
                   anonymous_pull: bool = False, token_expires_in: int = 300, token_server_tls: bool = True,
                   username: str = "alice", password: str | None = None,
                   notify_url: str | None = None) -> Iterator[RegistryServer]:
    """Run `docker-registry serve` on 127.0.0.1:0 with the given auth and TLS until the block ends.

    With `ca`, the registry (and the token server) speak TLS with certificates from it; with
    `require_client_cert`, the registry also demands a client certificate signed by it;
    `token_server_tls=False` keeps the token server on plain http even then; with `notify_url`,
    the registry POSTs its events (`notifications.endpoints`) there, as it does for webhooks.
    """
    folder.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_urlsafe(12)
    storage = folder / "storage"
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True},
                    "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": {"addr": "127.0.0.1:0", "secret": secrets.token_hex(16)},
    }
    if notify_url is not None:
        config["notifications"] = {"endpoints": [
            {"name": "imagebot", "url": notify_url, "timeout": "2s", "threshold": 5, "backoff": "200ms"},
        ]}
    token_server = None
    client_cert = None
    if ca is not None:
        cert, key = ca.issue_server().write(folder, "registry")
        config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
        if require_client_cert:
            ca_file = folder / "client-ca.crt"
            ca_file.write_bytes(ca.cert_pem)
            config["http"]["tls"]["clientcas"] = [str(ca_file)]
            client_cert = ca.issue_client()
    if auth == "htpasswd":
        htpasswd = folder / "htpasswd"
        # Cost 4: distribution checks bcrypt on every request (cost 12 is ~280 ms each).
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"{username}:{hashed}\n")
        config["auth"] = {"htpasswd": {"realm": "imagebot-test", "path": str(htpasswd)}}
    elif auth == "token":
        token_server = TokenServer(folder / "token", {username: password}, anonymous_pull=anonymous_pull,
                                   expires_in=token_expires_in,
                                   tls=ca.issue_server() if ca is not None and token_server_tls else None)
        config["auth"] = {"token": {"realm": token_server.realm, "service": token_server.service,
                                    "issuer": token_server.issuer,
                                    "rootcertbundle": str(token_server.root_cert_bundle)}}
    config_path = folder / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    log_path = folder / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config_path)], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        port = _wait_for_port(process, log_path)
    except BaseException:
        process.kill()
        process.wait()
        if token_server is not None:
            token_server.close()
        raise
    server = RegistryServer(
        host=f"127.0.0.1:{port}", storage_root=storage, process=process, log_path=log_path,
        ca_pem=ca.cert_pem if ca is not None else None,
        username=username if auth else None, password=password if auth else None,
        token_server=token_server, client_cert=client_cert,
    )
    try:
        yield server
    finally:
        server.stop()


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path, timeout: float = 15.0) -> int:
    # The registry logs "listening on 127.0.0.1:PORT" once it accepts connections.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited ({process.returncode}):\n{log_path.read_text()[-2000:]}")
        time.sleep(0.02)
    raise RuntimeError(f"docker-registry did not start within {timeout}s:\n{log_path.read_text()[-2000:]}")


# ---- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def registry_ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-http registry without auth, shared by the session: use repository names of your own."""
    with start_registry(tmp_path_factory.mktemp("plain-registry")) as server:
        yield server


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-http registry with htpasswd Basic auth (user `alice`, password in `.password`)."""
    with start_registry(tmp_path_factory.mktemp("basic-registry"), auth="htpasswd") as server:
        yield server


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory,
                   registry_ca: CertificateAuthority) -> Iterator[RegistryServer]:
    """TLS and bearer tokens, anonymous pull allowed: the Docker Hub shape, on loopback."""
    with start_registry(tmp_path_factory.mktemp("token-registry"), auth="token", ca=registry_ca,
                        anonymous_pull=True) as server:
        yield server


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory,
                 registry_ca: CertificateAuthority) -> Iterator[RegistryServer]:
    """TLS with a certificate from `registry_ca`, no auth."""
    with start_registry(tmp_path_factory.mktemp("tls-registry"), ca=registry_ca) as server:
        yield server


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[..., RegistryServer]]:
    """Start registries of your own (same keywords as `start_registry`); all stop after the test."""
    stack: list[Any] = []

    def start(**kwargs: Any) -> RegistryServer:
        manager = start_registry(tmp_path / f"registry-{len(stack)}", **kwargs)
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)
