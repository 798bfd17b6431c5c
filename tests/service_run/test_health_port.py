"""`--health-listen`: probes and metrics on a port of their own, answering through a shutdown;
/status names each Receiver's webhook path."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from imagebot.service.receivers import hook_path
from tests.service_run._stack import NAMESPACE, RECEIVER, TOKEN, free_port, service_stack


def test_health_port_serves_probes_and_metrics_only(tmp_path: Path) -> None:
    health_port = free_port()
    with service_stack(tmp_path, slack=False, health_port=health_port) as svc, \
            httpx.Client(base_url=f"http://127.0.0.1:{health_port}", timeout=5, trust_env=False) as health:
        svc.wait_log("run finished", timeout=10)
        assert health.get("/healthz").text == "ok\n"
        assert health.get("/readyz").status_code == 200
        assert "imagebot_scans_total" in health.get("/metrics").text
        hook = hook_path(TOKEN, RECEIVER, NAMESPACE)
        assert [health.post(hook).status_code, health.get("/status").status_code] == [404, 404]
        # The main port keeps every route it had, probes included.
        assert [svc.http.get(p).status_code for p in ("/healthz", "/readyz", "/metrics")] == [200, 200, 200]

        [receiver] = svc.http.get("/status").json()["receivers"]
        assert receiver == {
            "namespace": NAMESPACE, "name": RECEIVER, "type": "generic", "suspended": False,
            "webhookPath": hook, "resources": [{"kind": "ImageRepository", "name": "app", "namespace": NAMESPACE}],
        }
        assert svc.stop() == 0


def test_health_port_answers_while_a_shutdown_drains_a_delivery(tmp_path: Path) -> None:
    health_port = free_port()
    with service_stack(tmp_path, slack=False, health_port=health_port) as svc, \
            httpx.Client(base_url=f"http://127.0.0.1:{health_port}", timeout=5, trust_env=False) as health:
        svc.wait_log("run finished", timeout=10)
        svc.push_held_by_the_remote("1.1.0")

        svc.signal(signal.SIGTERM)
        svc.wait_log("waiting up to 20s for 1 run(s) in progress")
        # Alive but no longer ready while the delivery finishes; webhooks are no longer taken.
        assert (health.get("/healthz").status_code, health.get("/readyz").status_code) == (200, 503)
        try:
            main = svc.http.get("/healthz").status_code
        except httpx.TransportError:
            main = None
        assert main is None
        assert svc.process.wait(timeout=30) == 0
        assert "imagebot service stopped" in svc.log
