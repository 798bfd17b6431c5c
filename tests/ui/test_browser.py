"""The status page in a real browser (Debian's chromium, driven by Playwright) against a real
service: `imagebot run` with a real registry, a real git remote and the page's own JavaScript."""

from __future__ import annotations

import re
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from imagebot.service.receivers import hook_path
from tests.service_run._stack import (
    NAMESPACE,
    RECEIVER,
    REPOSITORY,
    TOKEN,
    deployment,
    policy_doc,
    service_stack,
)
from tests.ui._servers import HtmlErrorRegistry, TcpRelay
from tests.ui.conftest import screenshots

UI_TOKEN = "ui-operator-token-0123456789abcdef"
WAIT_MS = 20_000  # scans, runs and the page's 3 s refresh together


def ui_args(tmp: Path) -> list[str]:
    token = tmp / "ui-token"
    token.write_text(UI_TOKEN + "\n")
    return ["--ui-token-file", str(token)]


def repository_doc(name: str, image: str, interval: str = "1h") -> str:
    return "---\n" + textwrap.dedent(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {{name: {name}, namespace: {NAMESPACE}}}
        spec:
          image: {image}
          interval: {interval}
          timeout: 2s
          insecure: true
        """)


def open_page(browser: Any, base_url: str, path: str, **context: Any) -> Any:
    page = browser.new_context(base_url=base_url, **context).new_page()
    page.goto(path)
    return page


def test_the_page_shows_a_new_tag_after_a_push(tmp_path: Path, browser: Any) -> None:
    pinned = "---\n" + policy_doc("pinned", ">=1.0.0").replace(
        "  policy:", "  digestReflectionPolicy: Always\n  policy:")
    with service_stack(tmp_path, slack=False, args=ui_args(tmp_path), extra_config=pinned) as svc:
        base = f"http://127.0.0.1:{svc.port}"
        svc.wait_log("run finished", timeout=15)
        page = open_page(browser, base, "/policies")
        row = page.locator(f"#ImagePolicy-{NAMESPACE}-app")
        expect(row).to_contain_text("1.0.0", timeout=WAIT_MS)
        page.evaluate("window.__notReloaded = true")
        before = svc.remote.head()
        for other in ("latest", "1.1.0-rc.1", "0.9.0"):  # tags the policies pass over, and say why
            svc.registry.push_image(REPOSITORY, other)

        pushed = svc.registry.push_image(REPOSITORY, "1.1.0", created=datetime(2025, 5, 6, tzinfo=UTC))

        expect(row.locator("code.tag").first).to_have_text("1.1.0", timeout=WAIT_MS)
        assert page.evaluate("window.__notReloaded") is True, "the page refreshed itself in place"
        expect(row).to_contain_text("1.0.0")  # the previous value
        pinned = page.locator(f"#ImagePolicy-{NAMESPACE}-pinned")
        expect(pinned.locator("code.digest").first).to_have_attribute("title", pushed.digest, timeout=WAIT_MS)
        after = svc.wait_head_change(before)

        page.goto("/automations")
        fleet = page.locator(f"#ImageUpdateAutomation-{NAMESPACE}-fleet")
        expect(fleet).to_contain_text(after[:10], timeout=WAIT_MS)
        expect(fleet).to_contain_text("committed")
        expect(page.locator("ol.timeline")).to_contain_text(f"{REPOSITORY}:1.1.0")

        page.goto("/")
        expect(page.locator(".cards")).to_contain_text("1 automations")
        assert page.locator(".banner").count() == 0

        assert svc.http.get(hook_path(TOKEN, RECEIVER, NAMESPACE)).status_code == 405  # webhooks are POSTs
        page.goto("/receivers")
        expect(page.locator("code.path")).to_contain_text("/hook/")
        expect(page.locator(".receiver")).to_contain_text("200 accepted")
        expect(page.locator(".receiver")).to_contain_text("200 ignored")  # distribution's pull events
        expect(page.locator(".receiver tr.failing")).to_contain_text("405 refused")
        expect(page.locator(".receiver tr.failing")).to_contain_text("webhooks are POST")

        page.goto("/policies")
        page.locator(f"#ImagePolicy-{NAMESPACE}-app summary").click()
        explain = page.locator(f"#ImagePolicy-{NAMESPACE}-app pre.explain")
        expect(explain).to_contain_text("ranked #2")
        expect(explain).to_contain_text("latest")  # not a version
        expect(explain).to_contain_text("1.1.0-rc.1")  # a prerelease

        shots = screenshots(browser, base, {
            "overview": "/", "repositories": "/repositories",
            "policies": ("/policies", f"#ImagePolicy-{NAMESPACE}-app summary"),
            "policy": f"/policies/{NAMESPACE}/app", "automations": "/automations",
            "automation": f"/automations/{NAMESPACE}/fleet", "receivers": "/receivers", "login": "/login",
        }, tmp_path / "screenshots",
            readme=("overview-desktop", "repositories-desktop", "policies-desktop", "automations-desktop",
                    "receivers-desktop", "policies-phone"))
        assert len(shots) == 16 and all(s.stat().st_size > 5000 for s in shots)


def test_the_failure_banner_appears_when_a_registry_is_unreachable_and_clears_when_it_recovers(
        tmp_path: Path, browser: Any) -> None:
    relay = TcpRelay(target_port=0)
    relay.close()  # the mirror is down from the start
    extra = repository_doc("mirror", f"127.0.0.1:{relay.port}/{REPOSITORY}", interval="1s")
    with service_stack(tmp_path, slack=False, extra_config=extra, args=ui_args(tmp_path)) as svc:
        base = f"http://127.0.0.1:{svc.port}"
        page = open_page(browser, base, "/")
        banner = page.locator("#failures")
        expect(banner).to_contain_text(f"ImageRepository {NAMESPACE}/mirror", timeout=WAIT_MS)
        expect(banner).to_contain_text(re.compile(r"cannot connect to|no answer from"))  # refused, retried
        shots = screenshots(browser, base, {"overview-failing": "/", "repositories-failing": "/repositories"},
                            tmp_path / "screenshots",
                            readme=("overview-failing-desktop", "overview-failing-phone"))
        assert len(shots) == 4

        relay.target_port = int(svc.registry.host.rsplit(":", 1)[1])
        relay.open()
        expect(banner).to_have_count(0, timeout=WAIT_MS)
        expect(page.locator(".cards")).not_to_contain_text("failing")

        relay.close()
        expect(page.locator("#failures")).to_contain_text(f"{NAMESPACE}/mirror", timeout=WAIT_MS)
    relay.close()


def test_run_now_is_refused_without_login_and_delivers_a_commit_with_it(tmp_path: Path, browser: Any) -> None:
    with service_stack(tmp_path, slack=False, args=ui_args(tmp_path)) as svc:
        base = f"http://127.0.0.1:{svc.port}"
        svc.wait_log("run finished", timeout=15)
        # Another writer adds a manifest on an old tag; the automation's next run (in an hour) would fix it.
        svc.remote.commit({"apps/other.yaml": deployment(f"{svc.registry.host}/{REPOSITORY}:0.9.0", name="other")})
        before = svc.remote.head()

        page = open_page(browser, base, "/automations")
        button = page.locator(f"#ImageUpdateAutomation-{NAMESPACE}-fleet button")
        expect(button).to_be_disabled()
        expect(button).to_have_attribute("title", "log in to run")
        refused = page.request.post(f"/automations/{NAMESPACE}/fleet/run", form={"csrf": "a guess"})
        assert refused.status == 403
        time.sleep(1.5)
        assert svc.remote.head() == before, "a refused request must not run anything"

        page.get_by_role("link", name="Log in").click()
        page.fill("#token", UI_TOKEN)
        page.locator("form.login button").click()
        expect(page).to_have_url(f"{base}/automations")
        page.locator(f"#ImageUpdateAutomation-{NAMESPACE}-fleet button").click()
        expect(page.locator(".notice")).to_have_text(f"Run of ImageUpdateAutomation {NAMESPACE}/fleet requested.")

        after = svc.wait_head_change(before, timeout=15)
        assert f"{REPOSITORY}:1.0.0 #" in svc.remote.read("apps/other.yaml")
        expect(page.locator(f"#ImageUpdateAutomation-{NAMESPACE}-fleet")).to_contain_text(after[:10],
                                                                                           timeout=WAIT_MS)


def test_an_error_holding_html_is_shown_as_text(tmp_path: Path, browser: Any) -> None:
    html = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    broken = HtmlErrorRegistry(html)
    try:
        extra = repository_doc("broken", f"{broken.host}/team/broken")
        with service_stack(tmp_path, slack=False, extra_config=extra) as svc:
            base = f"http://127.0.0.1:{svc.port}"
            dialogs: list[str] = []
            page = browser.new_context(base_url=base).new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto("/repositories")
            error = page.locator(f"#ImageRepository-{NAMESPACE}-broken pre.error-text")
            expect(error).to_contain_text(html, timeout=WAIT_MS)
            expect(page.locator("#failures")).to_contain_text("<script>window.__pwned=1</script>")
            assert page.locator("main script, main img").count() == 0
            assert page.evaluate("window.__pwned") is None and dialogs == []
            assert svc.http.get("/status/repositories").json()["repositories"][0]["error"].endswith(html)
    finally:
        broken.close()
