"""`imagebot run` takes Flux's --min-retry-delay and --max-retry-delay, refuses unusable values, and
the running service shows a failing repository's retry in its log, /status and /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_run._flaky import FlakyFront
from tests.service_run._stack import ROOT, free_port, hermetic_env
from tests.service_run.test_scan_retry import repository
from tests.support.registry import start_registry


def imagebot(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imagebot", "run", "-c", str(tmp / "nowhere"), *args],
                          cwd=ROOT, env=hermetic_env(tmp / "home"), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "message"), [
    (["--min-retry-delay", "0s"], "error: --min-retry-delay must be more than 0, got 0s"),
    (["--min-retry-delay", "2m", "--max-retry-delay", "1m"],
     "error: --max-retry-delay (1m) must be at least --min-retry-delay (2m)"),
    (["--max-retry-delay", "15"], "error: --max-retry-delay: expected a duration such as '5m' or '1h30m', got '15'"),
    (["--min-retry-delay=-1s"], "error: --min-retry-delay: expected a duration such as '5m' or '1h30m', got '-1s'"),
])
def test_unusable_retry_delays_are_refused_before_anything_starts(tmp_path: Path, args: list[str],
                                                                  message: str) -> None:
    done = imagebot(tmp_path, *args)
    assert done.returncode == 1
    assert done.stderr.strip() == message


def test_the_service_retries_a_failing_registry_and_shows_when(tmp_path: Path) -> None:
    with start_registry(tmp_path / "reg") as registry, FlakyFront(registry.url) as front:
        registry.push_image("team/app", "1.0.0")
        front.fail(503)
        config = tmp_path / "config"
        config.mkdir()
        (config / "c.yaml").write_text(repository("app", front.host))
        port = free_port()
        log_path = tmp_path / "imagebot.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "imagebot", "run", "-c", str(config), "--state-dir", str(tmp_path / "state"),
                 "--listen", f"127.0.0.1:{port}", "--log-format", "json",
                 "--min-retry-delay", "300ms", "--max-retry-delay", "2s"],
                cwd=ROOT, env=hermetic_env(tmp_path / "home"), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, trust_env=False) as http:
                failing = poll(http, lambda repo: repo["nextRetry"] is not None, process, log_path)
                metrics = http.get("/metrics").text
                front.recover()
                recovered = poll(http, lambda repo: repo["error"] is None and repo["tags"] == 1, process, log_path)
            process.terminate()
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]

    assert "503" in failing["error"] and failing["nextRetry"].endswith("+00:00")
    assert recovered["nextRetry"] is None
    retried = [line for line in lines if "retrying in" in line["message"]]
    assert retried and retried[0]["repository"] == "team/app" and retried[0]["attempt"] == 1
    assert 0.3 <= retried[0]["retry_in"] <= 0.36 and "503" in retried[0]["message"]
    assert 'imagebot_retries_total{kind="scan"} ' in metrics
    assert 'imagebot_retries_total{kind="scan"} 0.0' not in metrics


def poll(http: httpx.Client, check: Callable[[dict[str, Any]], bool], process: subprocess.Popen[bytes],
         log_path: Path, timeout: float = 20.0) -> dict[str, Any]:
    """The first repository of /status once `check` holds for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            answer = http.get("/status")
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            repo: dict[str, Any] = answer.json()["repositories"][0]
            if check(repo):
                return repo
        time.sleep(0.05)
    raise AssertionError(f"/status never showed it:\n{log_path.read_text()[-3000:]}")
