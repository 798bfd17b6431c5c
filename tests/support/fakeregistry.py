"""A small registry that pages tag lists like Docker Hub and GHCR, and fails on request.

distribution 2.8 (the real registry in the other fixtures) ignores `n` and `last`, so pagination
and faults are tested here: a real HTTP server on 127.0.0.1, serving `/v2/NAME/tags/list` with
`Link: </v2/NAME/tags/list?last=X&n=N>; rel="next"` and HEAD/GET of manifests for known tags.
Each repository can fail: 500s, slow or never answering, connection resets, 429 with
Retry-After, malformed JSON. Every request is recorded for assertions.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

FaultKind = Literal["error500", "slow", "hang", "reset", "rate_limit", "malformed_json"]


@dataclass
class Fault:
    """How a repository misbehaves: for the first `times` requests, or always when `times` is None."""

    kind: FaultKind
    retry_after: str | None = "1"  # the Retry-After header of a 429 (None: no header)
    delay: float = 0.0  # seconds, for "slow"
    times: int | None = None

    def applies(self) -> bool:
        if self.times is None:
            return True
        if self.times > 0:
            self.times -= 1
            return True
        return False


@dataclass
class FakeRepository:
    """Tags served in pages of `page_size` (None: one page); `next_link` replaces every next link."""

    tags: list[str]
    page_size: int | None = 100
    fault: Fault | None = None
    next_link: str | None = None
    absolute_links: bool = False


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() when the request arrived


@dataclass
class FakeRegistry:
    """The running fake: add repositories, set a host-wide fault, read what it received."""

    host: str = ""
    repositories: dict[str, FakeRepository] = field(default_factory=dict)
    host_fault: Fault | None = None  # applies to every request, before the repository's own
    requests: list[SeenRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests it was answering at once
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def add(self, name: str, tags: list[str], **settings: Any) -> FakeRepository:
        repository = FakeRepository(list(tags), **settings)
        self.repositories[name] = repository
        return repository

    def image(self, name: str) -> str:
        return f"{self.host}/{name}"

    def seen(self, repository: str | None = None) -> list[SeenRequest]:
        """Requests received, all or those for one repository."""
        with self._lock:
            if repository is None:
                return list(self.requests)
            return [r for r in self.requests if r.path.startswith(f"/v2/{repository}/")]

    @staticmethod
    def digest_of(repository: str, tag: str) -> str:
        """The digest the fake reports for a tag (stable, derived from the names)."""
        return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()

    def start(self) -> FakeRegistry:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-registry",
                         daemon=True).start()
        return self

    def close(self) -> None:
        self._stopping.set()  # releases handlers that never answer
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(fake: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._answer(body)
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _answer(self, body: bool) -> None:
            split = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
            with fake._lock:
                fake.requests.append(SeenRequest(self.command, split.path, query, time.monotonic()))
            if split.path == "/v2/":
                return self._json(200, {}, body)
            name, kind, reference = _route(split.path)
            repository = fake.repositories.get(name or "")
            if repository is None:
                return self._json(404, _errors("NAME_UNKNOWN", "repository name not known to registry"), body)
            for fault in (fake.host_fault, repository.fault):
                if fault is not None and fault.applies() and self._misbehave(fault, body):
                    return
            if kind == "tags":
                return self._tags(name, repository, query, body)
            if kind == "manifests" and reference in repository.tags:
                digest = fake.digest_of(name, reference)
                manifest = json.dumps({"schemaVersion": 2, "tag": reference}).encode()
                return self._send(200, manifest if body else b"", {
                    "Docker-Content-Digest": digest, "Content-Length": str(len(manifest)),
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            return self._json(404, _errors("MANIFEST_UNKNOWN", "manifest unknown"), body)

        def _misbehave(self, fault: Fault, body: bool) -> bool:
            """Act out a fault; False when the answer should go on normally (a slow answer)."""
            if fault.kind == "error500":
                self._json(500, _errors("UNKNOWN", "internal server error"), body)
            elif fault.kind == "rate_limit":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                self._json(429, _errors("TOOMANYREQUESTS", "rate limit exceeded"), body, headers)
            elif fault.kind == "malformed_json":
                broken = b'{"name": "broken", "tags": ["1.0", '
                self._send(200, broken if body else b"",
                           {"Content-Type": "application/json", "Content-Length": str(len(broken))})
            elif fault.kind == "reset":
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif fault.kind == "hang":
                fake._stopping.wait()
                self.close_connection = True
            elif fault.kind == "slow":
                fake._stopping.wait(fault.delay)
                return False
            return True

        def _tags(self, name: str, repository: FakeRepository, query: dict[str, str], body: bool) -> None:
            tags = sorted(repository.tags)  # Docker Hub pages in lexical order
            last = query.get("last")
            if last is not None:
                tags = [t for t in tags if t > last]
            size = repository.page_size
            if "n" in query and query["n"].isdigit():
                size = min(int(query["n"]), size) if size else int(query["n"])
            page, more = (tags[:size], len(tags) > size) if size else (tags, False)
            headers = {}
            if more or repository.next_link:
                link = repository.next_link or (
                    f"/v2/{name}/tags/list?last={urllib.parse.quote(page[-1])}&n={size}")
                if repository.absolute_links and link.startswith("/"):
                    link = fake.url + link
                headers["Link"] = f'<{link}>; rel="next"'
            self._json(200, {"name": name, "tags": page}, body, headers)

        def _json(self, status: int, document: Any, body: bool, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(document).encode()
            self._send(status, data if body else b"", {"Content-Type": "application/json",
                                                        "Content-Length": str(len(data)), **(headers or {})})

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

    return Handler


def _route(path: str) -> tuple[str | None, str, str]:
    """(repository, "tags" | "manifests" | "", reference) for a /v2/ path."""
    if path.startswith("/v2/") and path.endswith("/tags/list"):
        return path[4:-len("/tags/list")], "tags", ""
    head, sep, reference = path.rpartition("/manifests/")
    if path.startswith("/v2/") and sep:
        return head[4:], "manifests", reference
    return None, "", ""


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    """A FakeRegistry on 127.0.0.1:PORT with no repositories yet; it stops after the test."""
    fake = FakeRegistry().start()
    try:
        yield fake
    finally:
        fake.close()
