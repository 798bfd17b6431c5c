"""A real `imagebot run` with two Receivers, a webhook port and a health port, for hostile clients.

Its one ImageRepository points at a closed port: scans fail at once, which is beside the point
here; what is watched is the process (memory, file descriptors), its answers and its log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import multiprocessing
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from imagebot.service.receivers import hook_path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hostile-world-token-0123"
NAMESPACE = "team"
PROBE_TIMEOUT = 1.0  # the kubelet's default timeoutSeconds: a slower answer is a failed probe

CONFIG = textwrap.dedent(f"""\
    apiVersion: image.toolkit.fluxcd.io/v1
    kind: ImageRepository
    metadata: {{name: app, namespace: {NAMESPACE}}}
    spec: {{image: 127.0.0.1:9/team/app, interval: 1h, insecure: true}}
    ---
    apiVersion: notification.toolkit.fluxcd.io/v1
    kind: Receiver
    metadata: {{name: plain, namespace: {NAMESPACE}}}
    spec:
      type: generic
      secretRef: {{name: token}}
      resources: [{{kind: ImageRepository, name: app}}]
    ---
    apiVersion: notification.toolkit.fluxcd.io/v1
    kind: Receiver
    metadata: {{name: signed, namespace: {NAMESPACE}}}
    spec:
      type: generic-hmac
      secretRef: {{name: token}}
      resources: [{{kind: ImageRepository, name: app}}]
    """)

PLAIN_HOOK = hook_path(TOKEN, "plain", NAMESPACE)
SIGNED_HOOK = hook_path(TOKEN, "signed", NAMESPACE)


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WebhookService:
    process: subprocess.Popen[bytes]
    port: int
    health_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def triggered(self, receiver: str) -> int:
        """Webhooks that receiver answered 200 to (from the service's own metrics)."""
        text = httpx.get(self.health_url + "/metrics", timeout=5).text
        needle = f'imagebot_webhook_requests_total{{receiver="{NAMESPACE}/{receiver}",status="200"}} '
        line = next((line for line in text.splitlines() if line.startswith(needle)), None)
        return int(float(line.split()[-1])) if line else 0


@contextmanager
def webhook_service(tmp: Path) -> Iterator[WebhookService]:
    (tmp / "config").mkdir()
    (tmp / "config" / "objects.yaml").write_text(CONFIG)
    (tmp / "secrets" / "token").mkdir(parents=True)
    (tmp / "secrets" / "token" / "token").write_text(TOKEN)
    port, health_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    env.update({"HOME": str(tmp), "NO_PROXY": "*", "PYTHONUNBUFFERED": "1"})
    log_path = tmp / "imagebot.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "imagebot", "run", "-c", str(tmp / "config"), "--secrets-dir", str(tmp / "secrets"),
             "--state-dir", str(tmp / "state"), "--listen", f"127.0.0.1:{port}",
             "--health-listen", f"127.0.0.1:{health_port}", "--log-format", "json"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    service = WebhookService(process, port, health_port, log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"imagebot exited with {process.returncode}:\n{service.log[-3000:]}")
            try:
                if httpx.get(service.health_url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"imagebot not ready:\n{service.log[-3000:]}")
            time.sleep(0.05)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Probes:
    """Health-port probes on fresh connections, every `every` seconds, from a process of their own
    (so that the attacking client in the test cannot delay them), while the block runs."""

    def __init__(self, service: WebhookService, every: float = 0.1) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results: multiprocessing.Queue[list[tuple[str, int | None, float]]] = context.Queue()
        self._process = context.Process(target=_probe, args=(service.health_url, every, self._stop, self._results),
                                        name="probes", daemon=True)
        self.answers: list[tuple[str, int | None, float]] = []

    def __enter__(self) -> Probes:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.answers = self._results.get(timeout=30)
        self._process.join(timeout=10)

    @property
    def failed(self) -> list[tuple[str, int | None, float]]:
        return [a for a in self.answers if a[1] != 200 or a[2] > PROBE_TIMEOUT]

    @property
    def slowest(self) -> float:
        return max(a[2] for a in self.answers)


def _probe(url: str, every: float, stop: Any, results: Any) -> None:
    answers: list[tuple[str, int | None, float]] = []
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, limits=limits, timeout=5, trust_env=False) as client:
        while not stop.is_set() or not answers:
            for path in ("/healthz", "/readyz"):
                start = time.monotonic()
                try:
                    status: int | None = client.get(path).status_code
                except httpx.TransportError:
                    status = None
                answers.append((path, status, time.monotonic() - start))
            stop.wait(every)
    results.put(answers)


async def http_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request on an open connection and read its answer (Content-Length framed); the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])
