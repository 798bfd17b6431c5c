"""Benchmark: the status page's weight and time to first render with 500 repositories, 500 policies
and 50 automations.

Two sources of the same shape:
  --source service    (default) `imagebot run` itself, on a real registry holding 500 repositories
                      and 50 bare git remotes: the numbers include the adapter reading the runtime
                      and the state database;
  --source synthetic  the page's routes on uvicorn over status data held in memory: the page alone.
Each page is fetched by httpx (server time: request to last byte) and opened in Debian's chromium
through Playwright, in a fresh browser context each time (cold cache): first contentful paint,
DOMContentLoaded and the bytes the browser received (HTML + CSS + JS).

Run: .venv/bin/python bench/statuspage.py [--source service|synthetic] [--runs 10]
Writes bench/results/statuspage-<source>.txt. Targets for `/`: under 100 KB in all, first
contentful paint under 1 s.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

import httpx  # noqa: E402

from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

REPOSITORIES, POLICIES, AUTOMATIONS = 500, 500, 50
TARGET_BYTES = 100 * 1024
TARGET_FCP = 1.0
PAGES = ["/", "/repositories", "/policies", "/automations", "/receivers"]


@contextmanager
def synthetic_server() -> Iterator[str]:
    import uvicorn
    from starlette.applications import Starlette

    from imagebot.service.ui import UiSettings, ui_routes
    from tests.ui._data import sample

    source = sample(REPOSITORIES, POLICIES, AUTOMATIONS, failing=5)
    app = Starlette(routes=ui_routes(source, source, UiSettings(token="bench-token-0123456789")))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def service_server(tmp: Path) -> Iterator[str]:
    """`imagebot run` over 50 namespaces, each with 10 ImageRepositories (one of the first five
    namespaces' repositories on a registry that is down), 10 ImagePolicies, a GitRepository and an
    automation whose manifests are a tag behind: when this yields, every automation has committed."""
    import subprocess

    from tests.service_run._stack import free_port, hermetic_env
    from tests.support.gitremotes import make_bare_repo
    from tests.support.registry import copy_repository, start_registry

    per = REPOSITORIES // AUTOMATIONS
    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    with start_registry(tmp / "registry") as registry:
        registry.push_image("fleet/app-0000", "1.0.0")
        registry.seed_tags("fleet/app-0000", [f"1.0.{n}" for n in range(1, 20)] + ["latest", "1.1.0-rc.1"])
        for i in range(1, REPOSITORIES):
            copy_repository(registry.storage_root, "fleet/app-0000", f"fleet/app-{i:04}")
        config = tmp / "config"
        config.mkdir()
        for a in range(AUTOMATIONS):
            ns = f"team-{a:02}"
            docs, manifests = [], {}
            for r in range(per):
                i = a * per + r
                host = down if (a < 5 and r == 0) else registry.host
                docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app-{i:04}, namespace: {ns}}}
spec: {{image: {host}/fleet/app-{i:04}, interval: 1h, insecure: true}}
""")
                docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app-{i:04}, namespace: {ns}}}
spec:
  imageRepositoryRef: {{name: app-{i:04}}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
""")
                manifests[f"apps/app-{i:04}.yaml"] = (
                    f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i:04}}}\nspec:\n"
                    f"  template:\n    spec:\n      containers:\n        - name: app\n"
                    f"          image: {host}/fleet/app-{i:04}:1.0.0 # {{\"$imagepolicy\": \"{ns}:app-{i:04}\"}}\n")
            remote = make_bare_repo(tmp / "remotes" / f"{ns}.git", manifests)
            docs.append(f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: fleet, namespace: {ns}}}
spec: {{url: "{remote.url}", ref: {{branch: main}}, interval: 1h}}
""")
            docs.append(f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: fleet, namespace: {ns}}}
spec:
  interval: 1h
  sourceRef: {{kind: GitRepository, name: fleet}}
  git:
    commit: {{author: {{name: imagebot, email: imagebot@example.com}}}}
    push: {{branch: main}}
  update: {{path: ./apps, strategy: Setters}}
""")
            (config / f"{ns}.yaml").write_text("---\n".join(docs))
        port = free_port()
        log_path = tmp / "imagebot.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "imagebot", "run", "-c", str(config), "--state-dir", str(tmp / "state"),
                 "--listen", f"127.0.0.1:{port}", "--log-format", "json"],
                cwd=PROJECT, env=hermetic_env(tmp / "home"), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 600
            with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"imagebot exited:\n{log_path.read_text()[-3000:]}")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"automations not all run in time:\n{log_path.read_text()[-3000:]}")
                    try:
                        repos = client.get("/status/repositories").json().get("repositories", [])
                        runs = client.get("/status/automations").json().get("automations", [])
                        if repos and runs and all(r["lastScan"] for r in repos) and all(a["lastRun"] for a in runs):
                            break
                    except (httpx.TransportError, ValueError):
                        pass
                    time.sleep(1)
                # then until the work the startup scans triggered is done: the overview stops changing
                quiet, etag = time.monotonic(), None
                while time.monotonic() - quiet < 10 and time.monotonic() < deadline:
                    now = client.get("/status/overview").headers.get("etag")
                    if now != etag:
                        quiet, etag = time.monotonic(), now
                    time.sleep(1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def server_times(url: str, path: str, runs: int) -> tuple[list[float], bytes]:
    times = []
    body = b""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        client.get(path)  # warm: templates compiled
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code)
            body = response.content
    return times, body


def browser_times(url: str, path: str, runs: int) -> tuple[list[float], list[float], int]:
    from playwright.sync_api import sync_playwright

    paints, loaded, received = [], [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for _ in range(runs + 1):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(url + path, wait_until="load")
            deadline = time.monotonic() + 10  # the page's CSP forbids wait_for_function's eval: poll
            while not page.evaluate("() => performance.getEntriesByName('first-contentful-paint').length"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path}: no first contentful paint within 10 s")
                time.sleep(0.01)
            timing = page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                const resources = performance.getEntriesByType('resource')
                    .filter(r => r.initiatorType !== 'fetch' && r.initiatorType !== 'xmlhttprequest');
                return {fcp: fcp.startTime, dcl: nav.domContentLoadedEventEnd,
                        bytes: nav.encodedBodySize + resources.reduce((n, r) => n + r.encodedBodySize, 0)};
            }""")
            context.close()
            if _ == 0:
                continue  # the first launch warms chromium's own caches
            paints.append(timing["fcp"] / 1000)
            loaded.append(timing["dcl"] / 1000)
            received = int(timing["bytes"])
        browser.close()
    return paints, loaded, received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("service", "synthetic"), default="service")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or HERE / "results" / f"statuspage-{args.source}.txt"

    with tempfile.TemporaryDirectory(prefix="imagebot-bench-") as tmp:
        started = time.monotonic()
        server = synthetic_server() if args.source == "synthetic" else service_server(Path(tmp))
        with server as url:
            setup = time.monotonic() - started
            results = {}
            for path in PAGES:
                served, body = server_times(url, path, args.runs)
                paints, loaded, received = browser_times(url, path, args.runs)
                results[path] = (served, body, paints, loaded, received)

    lines = [
        f"imagebot status page: {REPOSITORIES} repositories, {POLICIES} policies, {AUTOMATIONS} automations",
        f"date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average at the end {os.getloadavg()[0]:.1f} (the machine is shared: read the times with it)",
        f"command: .venv/bin/python bench/statuspage.py --source {args.source} --runs {args.runs}",
        "source: " + ("`imagebot run` on a real registry and 50 bare git remotes (startup scans and runs "
                      f"done, {setup:.0f} s to set up)" if args.source == "service"
                      else "the page's routes on uvicorn over status data held in memory"),
        "browser: Debian chromium via Playwright, a fresh context (cold cache) for each of "
        f"{args.runs} loads, after one warm-up launch",
        "",
        f"{'page':<14} {'HTML':>9} {'gzip':>8} {'received':>9} {'server p50':>11} {'FCP p50':>8} "
        f"{'FCP max':>8} {'DCL p50':>8}",
    ]
    verdict = True
    for path, (served, body, paints, loaded, received) in results.items():
        lines.append(
            f"{path:<14} {len(body) / 1024:>7.1f}KB {len(gzip.compress(body)) / 1024:>6.1f}KB "
            f"{received / 1024:>7.1f}KB {statistics.median(served) * 1000:>9.1f}ms "
            f"{statistics.median(paints) * 1000:>6.0f}ms {max(paints) * 1000:>6.0f}ms "
            f"{statistics.median(loaded) * 1000:>6.0f}ms")
    served, body, paints, loaded, received = results["/"]
    weight_ok = received < TARGET_BYTES
    paint_ok = statistics.median(paints) < TARGET_FCP
    verdict = weight_ok and paint_ok
    lines += [
        "",
        f"/ received by the browser: {received / 1024:.1f} KB (target < {TARGET_BYTES // 1024} KB) "
        f"{'OK' if weight_ok else 'MISSED'}",
        f"/ first contentful paint p50: {statistics.median(paints) * 1000:.0f} ms (target < "
        f"{TARGET_FCP * 1000:.0f} ms) {'OK' if paint_ok else 'MISSED'}",
        "HTML: the page's body uncompressed; gzip: compressed as the service sends it (answers over 1 KB); "
        "received: HTML + CSS + JS bodies as the browser got them, compressed; server: httpx request to last "
        "byte (gzip included); "
        "FCP: first contentful paint; DCL: DOMContentLoaded end (both from navigation start).",
    ]
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text, end="")
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
