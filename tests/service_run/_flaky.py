"""A registry that fails on demand: a small HTTP server in front of a real registry that answers
an error while `failing` is set (503 by default; 429 with a Retry-After, for rate limiting) and
otherwise passes each request through to the registry and its answer back.

    with FlakyFront(registry.url) as front:     # front.host: use it in spec.image
        front.fail(503)                         # every request answered 503 from now on
        front.recover()                         # the registry's own answers again
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# hop-by-hop headers, and the ones the pass-through sets itself
_DROPPED = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class FlakyFront:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.status: int | None = None  # the error answered while failing; None: pass through
        self.retry_after: str | None = None
        self.failed = 0  # requests answered with the error
        self.passed = 0  # requests passed to the registry
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=10, trust_env=False)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="flaky-front", daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def fail(self, status: int = 503, retry_after: str | None = None) -> None:
        with self._lock:
            self.status, self.retry_after = status, retry_after

    def recover(self) -> None:
        with self._lock:
            self.status, self.retry_after = None, None

    def __enter__(self) -> FlakyFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _answer(self, method: str, path: str, headers: dict[str, str]
                ) -> tuple[int, list[tuple[str, str]], bytes, int]:
        """Status, headers, body and Content-Length (a HEAD's is the registry's, with no body)."""
        with self._lock:
            status, retry_after = self.status, self.retry_after
            if status is not None:
                self.failed += 1
            else:
                self.passed += 1
        if status is not None:
            extra = [("Retry-After", retry_after)] if retry_after is not None else []
            body = b'{"errors":[{"code":"UNAVAILABLE","message":"the registry is failing on purpose"}]}'
            return status, [("Content-Type", "application/json"), *extra], body, len(body)
        forwarded = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        answer = self._client.request(method, path, headers=forwarded)
        kept = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _DROPPED]
        length = int(answer.headers.get("content-length", 0)) if method == "HEAD" else len(answer.content)
        return answer.status_code, kept, answer.content, length


def _handler(front: FlakyFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, body: bool) -> None:
            status, headers, content, length = front._answer(self.command, self.path, dict(self.headers.items()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if body:
                self.wfile.write(content)

    return Handler
