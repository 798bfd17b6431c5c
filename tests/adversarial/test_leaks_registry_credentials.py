"""A registry that echoes the credentials it was sent must not get them printed anywhere.

The hostile registry answers 401 with the Authorization header (base64 of user:pass), the decoded
pair and the bearer token it handed out in its error message. None of them may reach `scan`'s
JSON or text output, the logs of `run --once`, or the bodies of Slack and generic notifications,
while the error still says what happened.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hostileregistry import (
    IDENTITY_TOKEN,
    PASSWORD,
    REGISTRY_TOKEN,
    ROOT,
    USERNAME,
    HostileRegistry,
    run_bounded,
    write_scan_config,
)
from tests.support.webhookreceiver import WebhookReceiver

NOTIFICATION = "notification.toolkit.fluxcd.io/v1beta3"


def docker_config(registry: HostileRegistry, form: str) -> bytes:
    entry = {"auth": {"auth": registry.auth()},
             "username/password": {"username": USERNAME, "password": PASSWORD},
             # docker's OAuth2 refresh token: sent to the token server, which the registry then echoes
             "identitytoken": {"username": USERNAME, "identitytoken": IDENTITY_TOKEN,
                               "registrytoken": REGISTRY_TOKEN}}[form]
    return json.dumps({"auths": {registry.host: entry}}).encode()


def secrets_folder(root: Path, registry: HostileRegistry, form: str) -> Path:
    (root / "regcred").mkdir(parents=True)
    (root / "regcred" / ".dockerconfigjson").write_bytes(docker_config(registry, form))
    return root


def assert_nothing_leaked(text: str, registry: HostileRegistry, form: str = "auth") -> None:
    given = registry.secrets_shown()
    if form == "identitytoken":  # imagebot never held the password the server echoes: only the tokens count
        given = [IDENTITY_TOKEN, REGISTRY_TOKEN, *registry.tokens]
    shown = [s for s in given if s in text]
    assert not shown, f"credentials leaked: {shown}\n{text[-3000:]}"


@pytest.mark.parametrize(("attack", "form"), [
    ("basic_echo", "auth"), ("basic_echo", "username/password"),
    ("bearer_echo", "auth"), ("bearer_echo", "username/password"), ("bearer_echo", "identitytoken"),
])
@pytest.mark.parametrize("output", ["json", "text"])
def test_scan_output_hides_echoed_credentials(tmp_path: Path, hostile_registry: HostileRegistry, attack: str,
                                             form: str, output: str) -> None:
    image = hostile_registry.add("team/app", attack)
    config = write_scan_config(tmp_path / "config", {"app": image}, secret="regcred")
    secrets = secrets_folder(tmp_path / "secrets", hostile_registry, form)

    result = run_bounded("scan", "-c", str(config), "--secrets-dir", str(secrets), "--state-dir",
                         str(tmp_path / "state"), "--output", output, timeout=60)

    assert result.returncode == 1, result.explain()
    # The registry really did echo them: the attack reached imagebot.
    assert any(r[2].get("Authorization") for r in hostile_registry.requests)
    if form == "identitytoken":
        assert hostile_registry.refresh_tokens == [IDENTITY_TOKEN]
    assert_nothing_leaked(result.output(), hostile_registry, form)
    assert "401" in result.stdout and "UNAUTHORIZED" in result.stdout, result.explain()
    if output == "json":
        [repository] = json.loads(result.stdout)["repositories"]
        assert repository["error"].startswith(f"{image}: authentication failed (401): UNAUTHORIZED")


def test_a_base64_of_the_pair_without_padding_or_urlsafe_is_hidden_too() -> None:
    """A server may re-encode what it echoes; every derived form is registered, not only the written one."""
    from imagebot.redact import register_credentials, scrub

    user, password = "someone", "p+w/d?=&x"
    register_credentials(user, password)
    pair = f"{user}:{password}".encode()
    for shown in (base64.b64encode(pair).decode(), base64.b64encode(pair).decode().rstrip("="),
                  base64.urlsafe_b64encode(pair).decode().rstrip("="), json.dumps(password)[1:-1],
                  "p%2Bw%2Fd%3F%3D%26x", f"{user}:{password}"):
        assert shown not in scrub(f"the server said {shown}!"), shown


def test_run_logs_and_notifications_hide_echoed_credentials(
        tmp_path: Path, hostile_registry: HostileRegistry,
        webhook_receiver: Callable[..., WebhookReceiver]) -> None:
    generic = webhook_receiver("generic")
    slack = webhook_receiver("slack")
    image = hostile_registry.add("team/app", "bearer_echo")
    providers = []
    for name, kind, receiver in (("hook", "generic", generic), ("chat", "slack", slack)):
        providers += [
            {"apiVersion": NOTIFICATION, "kind": "Provider", "metadata": {"name": name, "namespace": "team"},
             "spec": {"type": kind, "address": receiver.url(f"/{name}")}},
            {"apiVersion": NOTIFICATION, "kind": "Alert", "metadata": {"name": name, "namespace": "team"},
             "spec": {"providerRef": {"name": name}, "eventSeverity": "error",
                      "eventSources": [{"kind": "ImageRepository", "name": "*"}]}},
        ]
    config = write_scan_config(tmp_path / "config", {"app": image}, secret="regcred", extra=providers)
    secrets = secrets_folder(tmp_path / "secrets", hostile_registry, "auth")

    result = run_bounded("run", "--once", "-c", str(config), "--secrets-dir", str(secrets), "--state-dir",
                         str(tmp_path / "state"), "--log-format", "json", "--log-level", "debug", timeout=60)

    assert result.returncode == 1, result.explain()
    assert hostile_registry.tokens, "the token server was never asked: the attack did not happen"
    assert_nothing_leaked(result.output(), hostile_registry)
    for receiver in (generic, slack):
        [received] = receiver.wait_for(1)
        body = received.body.decode()
        assert "authentication failed (401)" in body, body  # the ScanFailed event arrived, with its reason
        assert_nothing_leaked(body, hostile_registry)


def test_the_service_status_page_log_and_slack_hide_echoed_credentials(
        tmp_path: Path, hostile_registry: HostileRegistry,
        webhook_receiver: Callable[..., WebhookReceiver]) -> None:
    """The unauthenticated /status page shows each repository's last error: never a credential."""
    slack = webhook_receiver("slack")
    image = hostile_registry.add("team/app", "basic_echo")
    alerts = [
        {"apiVersion": NOTIFICATION, "kind": "Provider", "metadata": {"name": "chat", "namespace": "team"},
         "spec": {"type": "slack", "address": slack.url("/services/T0/B0/x")}},
        {"apiVersion": NOTIFICATION, "kind": "Alert", "metadata": {"name": "chat", "namespace": "team"},
         "spec": {"providerRef": {"name": "chat"}, "eventSeverity": "error",
                  "eventSources": [{"kind": "ImageRepository", "name": "*"}]}},
    ]
    config = write_scan_config(tmp_path / "config", {"app": image}, secret="regcred", extra=alerts)
    secrets = secrets_folder(tmp_path / "secrets", hostile_registry, "auth")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "imagebot.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "imagebot", "run", "-c", str(config), "--secrets-dir", str(secrets),
             "--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{port}", "--log-format", "json"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, trust_env=False) as http:
            while time.monotonic() < deadline and not any(r.get("error") for r in status.get("repositories", [])):
                time.sleep(0.2)
                with contextlib.suppress(httpx.TransportError, ValueError):
                    status = http.get("/status").json()
        page = json.dumps(status)
        assert "authentication failed (401)" in page, page
        assert_nothing_leaked(page, hostile_registry)
        [received] = slack.wait_for(1, timeout=10)
        assert_nothing_leaked(received.body.decode(), hostile_registry)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    text = log_path.read_text(errors="replace")
    assert "401" in text, text[-2000:]
    assert_nothing_leaked(text, hostile_registry)
