"""Cloud registry hosts on loopback: names such as 123456789012.dkr.ecr.us-east-1.amazonaws.com
resolve to 127.0.0.1 in this process (a hosts-file entry, nothing more), and small JSON servers for
the clouds' token endpoints."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]

# The registry hosts of tests/registry/test_cloud_*.py, which squid (tests/support/proxy.py) resolves to loopback.
CLOUD_TEST_HOSTS = ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "europe-docker.pkg.dev", "imagebottest.azurecr.io")


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, *suffixes: str) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes idna-encoded bytes
        if isinstance(name, str) and name.endswith(suffixes):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@contextmanager
def json_server(handle: Handler) -> Iterator[str]:
    """Serve `handle(method, path, headers, body) -> (status, JSON)` on loopback; yields the base URL."""

    class Serve(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = handle(self.command, self.path, dict(self.headers.items()), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
