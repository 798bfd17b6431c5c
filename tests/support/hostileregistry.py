"""A registry that attacks its client: a real HTTP server on 127.0.0.1 for tests/adversarial/.

Each repository gets one `Attack`: it echoes the credentials it was sent (plain, base64, the
bearer token) in 401 bodies, answers with endless, dripping, over-announced or gzip-bomb bodies,
links tag pages in loops or to other hosts, redirects in circles, storms with 500 + Retry-After,
and lists invalid tags or digests. Every request is recorded.

`run_bounded` runs an imagebot command in a subprocess with an address-space cap and reports its
peak RSS (from wait4) and wall time, so a test can assert bounded memory and time.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest

ROOT = Path(__file__).resolve().parents[2]

AttackKind = Literal[
    "none",  # a well-behaved repository serving `tags`
    "basic_echo",  # Basic auth; a 401 body echoing the Authorization header and the decoded user:pass
    "bearer_echo",  # token auth; the token server hands out a token, the registry echoes it (and user:pass)
    "endless",  # 200, chunked, a tag list that never ends
    "drip",  # 200, a byte every `interval` seconds, forever
    "announced",  # Content-Length of 10 GiB, then an endless body
    "gzip_bomb",  # Content-Encoding: gzip, ~64 KiB that inflate to 64 MiB
    "deep_json",  # a tag list nested 200,000 arrays deep
    "link_loop",  # every page links to a new page with one new tag, forever
    "link_cycle",  # page 2 links back to page 1
    "cross_host",  # the next-page link points at another host
    "redirect_loop",  # every request is redirected to itself
    "storm_500",  # 500 with Retry-After: 99999, always
    "bad_digest",  # tags list fine, HEAD of a manifest gives an invalid (secret-echoing) digest
    "redirect_away",  # Basic auth; blobs redirect to `target` (another host), which must not get the credentials
]

USERNAME = "hostile-user"
PASSWORD = "pa55-W0rd-never-shown"
IDENTITY_TOKEN = "idt-refresh-0f-the-hostile-user"
REGISTRY_TOKEN = "rgt-registry-token-never-shown"


@dataclass
class Attack:
    kind: AttackKind = "none"
    tags: list[str] = field(default_factory=lambda: ["1.0.0", "1.2.0"])
    interval: float = 0.2  # seconds between drips
    target: str = ""  # where "redirect_away" sends blob requests (http://HOST:PORT)


@dataclass
class Answer:
    """A scripted answer of an `/answer/NAME` endpoint (for forge and webhook clients)."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False  # 200 with a chunked body that never ends


@dataclass
class HostileRegistry:
    bind: str = "127.0.0.1"  # 127.0.0.2 makes a second, different host on loopback
    host: str = ""
    repositories: dict[str, Attack] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # method, path, headers
    tokens: list[str] = field(default_factory=list)  # tokens the token server handed out
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    refresh_tokens: list[str] = field(default_factory=list)  # identity tokens sent to the token server
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, kind: AttackKind = "none", **settings: Any) -> str:
        """Serve repository `name` with an attack; returns its image reference."""
        self.repositories[name] = Attack(kind, **settings)
        return f"{self.host}/{name}"

    def endpoint(self, name: str, *answers: Answer) -> str:
        """`http://HOST/answer/NAME`: answers in turn, the last one repeating; returns the URL."""
        self.answers[name] = list(answers)
        return f"http://{self.host}/answer/{name}"

    def seen(self, name: str) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[1].startswith(f"/answer/{name}")]

    @staticmethod
    def auth() -> str:
        """The docker config `auth` value (base64 of user:pass): it must never appear in output."""
        return base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    def docker_config(self) -> bytes:
        return json.dumps({"auths": {self.host: {"auth": self.auth()}}}).encode()

    def secrets_shown(self) -> list[str]:
        """Every credential form a leak would show."""
        return [PASSWORD, self.auth(), self.auth().rstrip("="), f"{USERNAME}:{PASSWORD}", IDENTITY_TOKEN,
                REGISTRY_TOKEN, *self.tokens]

    def start(self) -> HostileRegistry:
        self._server = ThreadingHTTPServer((self.bind, 0), _handler(self))
        self._server.daemon_threads = True
        self.host = f"{self.bind}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="hostile-registry",
                         daemon=True).start()
        return self

    def close(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


_BOMB: bytes | None = None


def _gzip_bomb() -> bytes:
    """64 MiB of a tag list's padding, gzipped to about 64 KiB (made once per process)."""
    global _BOMB
    if _BOMB is None:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6) as out:
            out.write(b'{"name":"bomb","tags":["1.0.0"')
            chunk = b" " * (1 << 20)
            for _ in range(64):
                out.write(chunk)
            out.write(b"]}")
        _BOMB = buffer.getvalue()
    return _BOMB


def _handler(registry: HostileRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall between

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle(self) -> None:
            # the client hanging up on an attack is the point, not an error of the server
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                super().handle()

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_POST(self) -> None:
            self._serve(body=True)

        # ---- routing ----------------------------------------------------------------------

        def _serve(self, body: bool) -> None:
            split = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
            with registry._lock:
                registry.requests.append((self.command, self.path, dict(self.headers.items())))
            try:
                if split.path.startswith("/answer/"):
                    return self._scripted(split.path.removeprefix("/answer/").split("/")[0])
                if split.path == "/token":
                    return self._token()
                if split.path == "/v2/":
                    return self._json(200, {}, body)
                name, _, rest = split.path.removeprefix("/v2/").partition("/tags/list")
                if rest == "" and split.path.endswith("/tags/list"):
                    return self._tags(name, query, body)
                if "/blobs/" in split.path:
                    return self._blob(split.path.removeprefix("/v2/").partition("/blobs/")[0], body)
                if "/manifests/" in split.path:
                    name, _, reference = split.path.removeprefix("/v2/").partition("/manifests/")
                    return self._manifest(name, reference, body)
                self._json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]}, body)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True

        def _attack(self, name: str) -> Attack | None:
            return registry.repositories.get(name)

        # ---- answers ----------------------------------------------------------------------

        def _tags(self, name: str, query: dict[str, str], body: bool) -> None:
            attack = self._attack(name)
            if attack is None:
                return self._json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]}, body)
            if not self._authorized(attack, name, body):
                return
            kind = attack.kind
            if kind == "endless":
                return self._endless(b'{"name":"x","tags":[', b'"1.0.0",' * 4096)
            if kind == "announced":
                return self._endless(b'{"name":"x","tags":[', b'"1.0.0",' * 4096, length=10 << 30)
            if kind == "drip":
                return self._drip(attack.interval)
            if kind == "gzip_bomb":
                data = _gzip_bomb()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if kind == "deep_json":
                depth = 200_000
                return self._raw(200, b'{"tags":' + b"[" * depth + b"]" * depth + b"}", body)
            if kind == "redirect_loop":
                self.send_response(307)
                self.send_header("Location", self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if kind == "storm_500":
                self.send_response(500)
                self.send_header("Retry-After", "99999")
                data = json.dumps({"errors": [{"code": "UNKNOWN", "message": "storm"}]}).encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if kind in ("link_loop", "link_cycle", "cross_host"):
                page = int(query.get("page", "1"))
                following = {"link_loop": f"/v2/{name}/tags/list?page={page + 1}",
                             "link_cycle": f"/v2/{name}/tags/list?page={2 if page == 1 else 1}",
                             "cross_host": f"http://127.0.0.2:1/v2/{name}/tags/list?page=2"}[kind]
                tags = [f"1.{page}.0"] if kind == "link_loop" else attack.tags
                return self._json(200, {"name": name, "tags": tags}, body,
                                  {"Link": f'<{following}>; rel="next"'})
            return self._json(200, {"name": name, "tags": attack.tags}, body)

        def _manifest(self, name: str, reference: str, body: bool) -> None:
            attack = self._attack(name)
            if attack is None:
                return self._json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]}, body)
            if not self._authorized(attack, name, body):
                return None
            digest = "sha256:" + hashlib.sha256(f"{name}:{reference}".encode()).hexdigest()
            if attack.kind == "bad_digest":
                digest = f"sha256:{PASSWORD}"
            document = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest,
                                   "size": 2}, "layers": []}
            return self._json(200, document, body, {"Docker-Content-Digest": digest,
                                                    "Content-Type": "application/vnd.oci.image.manifest.v1+json"})

        def _scripted(self, name: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with registry._lock:
                script = registry.answers.get(name) or [Answer(404, b"{}")]
                answer = script.pop(0) if len(script) > 1 else script[0]
            if answer.endless:
                return self._endless(b"{", b" " * 65536)
            return self._raw(answer.status, answer.body, self.command != "HEAD", answer.headers)

        def _blob(self, name: str, body: bool) -> None:
            attack = self._attack(name)
            if attack is not None and attack.kind == "redirect_away":
                if not self._authorized(attack, name, body):
                    return None
                self.send_response(307)
                self.send_header("Location", attack.target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if attack is not None and attack.kind == "redirect_loop":
                self.send_response(307)
                self.send_header("Location", self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._json(200, {"created": "2026-01-01T00:00:00Z"}, body)

        def _authorized(self, attack: Attack, name: str, body: bool) -> bool:
            sent = self.headers.get("Authorization", "")
            if attack.kind == "basic_echo":
                if not sent:
                    self._json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "login"}]}, body,
                               {"WWW-Authenticate": 'Basic realm="hostile"'})
                    return False
                decoded = base64.b64decode(sent.removeprefix("Basic ")).decode(errors="replace")
                self._json(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": f"bad credentials {sent} ({decoded}) {decoded}"}]},
                           body, {"WWW-Authenticate": 'Basic realm="hostile"'})
                return False
            if attack.kind == "redirect_away":
                if sent != f"Basic {registry.auth()}":
                    self._json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "login"}]}, body,
                               {"WWW-Authenticate": 'Basic realm="hostile"'})
                    return False
                return True
            if attack.kind == "bearer_echo":
                challenge = (f'Bearer realm="http://{registry.host}/token",service="hostile",'
                             f'scope="repository:{name}:pull"')
                if not sent.startswith("Bearer "):
                    self._json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "token required"}]}, body,
                               {"WWW-Authenticate": challenge})
                    return False
                with registry._lock:
                    refresh = " ".join(registry.refresh_tokens)
                self._json(401, {"errors": [{"code": "UNAUTHORIZED", "message":
                                             f"token {sent.removeprefix('Bearer ')} revoked for "
                                             f"{USERNAME}:{PASSWORD} (refresh token {refresh})"}]}, body,
                           {"WWW-Authenticate": challenge + ',error="invalid_token"'})
                return False
            return True

        def _token(self) -> None:
            token = "tok-" + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode(errors="replace")) if length else {}
            with registry._lock:
                registry.tokens.append(token)
                registry.refresh_tokens.extend(form.get("refresh_token", []))
            self._json(200, {"token": token, "expires_in": 300}, True)

        # ---- writing ----------------------------------------------------------------------

        def _json(self, status: int, document: Any, body: bool, headers: dict[str, str] | None = None) -> None:
            self._raw(status, json.dumps(document).encode(), body, headers)

        def _raw(self, status: int, data: bytes, body: bool, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            headers = {"Content-Type": "application/json", **(headers or {})}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _endless(self, head: bytes, chunk: bytes, length: int | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if length is None:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            self.close_connection = True
            first = True
            while not registry._stopping.is_set():
                data = head + chunk if first else chunk
                first = False
                if length is None:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(data)

        def _drip(self, interval: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b'1\r\n{\r\n')
            while not registry._stopping.wait(interval):
                self.wfile.write(b"1\r\n \r\n")
                self.wfile.flush()

    return Handler


@pytest.fixture
def hostile_registry() -> Iterator[HostileRegistry]:
    registry = HostileRegistry().start()
    yield registry
    registry.close()


# ---- running imagebot as an attacker would see it ----------------------------------------------

@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float  # the process's maximum resident set (wait4's ru_maxrss)

    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f}s, peak RSS {self.peak_rss_mib:.0f} MiB\n"
                f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}")


ADDRESS_SPACE_CAP = 3 << 30  # a run past this fails with MemoryError instead of taking the machine down


def run_bounded(*args: str, timeout: float = 120.0, cwd: Path = ROOT) -> Finished:
    """`python -m imagebot ARGS` with an address-space cap; killed after `timeout` seconds."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))

    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "imagebot", *args], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err, cwd=cwd, preexec_fn=limit,
                                   env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        killer = threading.Timer(timeout, lambda: process.send_signal(signal.SIGKILL))
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # the child's own peak RSS, not all children's
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return Finished(process.returncode, stdout, stderr, seconds, usage.ru_maxrss / 1024)


def write_scan_config(folder: Path, images: dict[str, str], *, timeout: str = "10s", secret: str | None = None,
                      extra: list[dict[str, Any]] | None = None) -> Path:
    """An ImageRepository and a semver ImagePolicy per image (name -> reference), as JSON documents."""
    folder.mkdir(parents=True, exist_ok=True)
    docs: list[dict[str, Any]] = []
    for name, image in images.items():
        spec: dict[str, Any] = {"image": image, "interval": "1h", "timeout": timeout, "insecure": True}
        if secret:
            spec["secretRef"] = {"name": secret}
        docs.append({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                     "metadata": {"name": name, "namespace": "team"}, "spec": spec})
        docs.append({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                     "metadata": {"name": name, "namespace": "team"},
                     "spec": {"imageRepositoryRef": {"name": name}, "policy": {"semver": {"range": ">=0.0.0"}}}})
    docs.extend(extra or [])
    (folder / "imagebot.yaml").write_text("".join(f"---\n{json.dumps(doc, indent=2)}\n" for doc in docs))
    return folder
