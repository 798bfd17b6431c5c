"""The status page's routes on Starlette's TestClient with data in memory: pages, JSON, login, actions.
(The attacks on them are in tests/adversarial/test_status_page.py.)"""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette

from imagebot.service.ui import PageAccess, UiSettings, ui_routes
from imagebot.service.ui.auth import SESSION_COOKIE
from tests.ui._client import BASE, TOKEN, TestClient, client, csrf_of, log_in
from tests.ui._data import sample


@pytest.mark.parametrize("path", ["/", "/repositories", "/policies", "/policies/apps/policy-001", "/automations",
                                  "/automations/apps/fleet-01", "/receivers"])
def test_every_page_and_its_json(path: str) -> None:
    c = client(sample())
    page = c.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    json_path = "/status/overview" if path == "/" else "/status" + path
    assert f'data-json="{json_path}"' in page.text
    document = c.get(json_path)
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    etag = document.headers["etag"]
    assert f'data-etag="{etag.replace(chr(34), "&#34;")}"' in page.text, "the page says which JSON it shows"
    assert c.get(json_path, headers={"If-None-Match": etag}).status_code == 304


def test_overview_puts_failures_first_with_their_error_text() -> None:
    c = client(sample(repositories=5, policies=5, automations=3, failing=1))
    html = c.get("/").text
    banner = html.index('class="banner"')
    assert banner < html.index('class="cards"')
    assert "3 failing" in html  # a repository, its policy, an automation
    assert "503 Service Unavailable" in html and "non-fast-forward" in html
    doc = c.get("/status/overview").json()
    assert doc["counts"] == {"repositories": 5, "repositoriesFailing": 1, "repositoriesSuspended": 0, "policies": 5,
                             "policiesFailing": 1, "automations": 3, "automationsFailing": 1, "receivers": 1}
    assert doc["automations"][0]["failing"] is True
    assert doc["lastScan"] and doc["nextScan"]


def test_healthy_fleet_has_no_banner() -> None:
    html = client(sample(failing=0)).get("/").text
    assert 'class="banner"' not in html


def test_lists_show_what_the_issue_asks_for() -> None:
    c = client(sample(repositories=3, policies=3, automations=2, failing=1))
    repos = c.get("/status/repositories").json()["repositories"]
    assert repos[0]["error"] and repos[1]["tags"] == 41 and repos[1]["duration"] == 0.051
    policies = c.get("/status/policies").json()["policies"]
    healthy = policies[1]
    assert healthy["latest"]["tag"] == "1.1.3" and healthy["previous"]["tag"] == "1.1.2"
    assert healthy["latest"]["digest"].startswith("sha256:") and healthy["changedAt"].endswith("Z")
    automations = c.get("/status/automations").json()
    ok = automations["automations"][1]
    assert ok["commitUrl"] == f"https://github.com/example/fleet-01/commit/{ok['commit']}"
    assert ok["pullRequestUrl"] == "https://github.com/example/fleet-01/pull/8"
    assert automations["timeline"][0]["changes"][0]["new"].endswith(":1.1.3")
    receivers = c.get("/status/receivers").json()["receivers"]
    assert receivers[0]["path"].startswith("/hook/") and receivers[0]["calls"][1]["reason"] == "token does not match"
    html = c.get("/receivers").text
    assert "401 refused" in html and "token does not match" in html


def test_policy_page_explains_why_the_runner_up_lost() -> None:
    c = client(sample())
    html = c.get("/policies/apps/policy-001").text
    assert re.search(r"1\.1\.2 +ranked #2", html) and "not a semantic version" in html
    doc = c.get("/status/policies/apps/policy-001").json()
    assert doc["explanation"]["counts"]["prerelease"] == 2
    assert "2 more tags not listed" in doc["explanation"]["text"]
    assert c.get("/policies/apps/nope").status_code == 404
    assert c.get("/status/policies/apps/nope").status_code == 404


def test_not_ready_is_503() -> None:
    source = sample()
    source.loaded = False
    c = client(source)
    assert c.get("/").status_code == 503
    assert c.get("/status/overview").status_code == 503


# --- actions and login ---------------------------------------------------------------------------


def test_actions_are_off_without_a_token() -> None:
    source = sample()
    c = client(source, UiSettings(token=None))
    html = c.get("/automations").text
    assert "disabled" in html and "actions are off" in html and "Log in" not in html
    assert c.get("/login").status_code == 404
    response = c.post("/automations/apps/fleet-01/run", data={"csrf": "x"})
    assert response.status_code == 403 and source.runs == []


def test_run_now_needs_a_login_then_works() -> None:
    source = sample()
    c = client(source)
    refused = c.post("/automations/apps/fleet-01/run", data={"csrf": "whatever"})
    assert refused.status_code == 403 and "Log in" in refused.text
    assert source.runs == []
    csrf = log_in(c)
    done = c.post("/automations/apps/fleet-01/run", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/automations?requested=run&key=apps/fleet-01"
    assert source.runs == ["apps/fleet-01"]
    assert "Run of ImageUpdateAutomation apps/fleet-01 requested." in c.get(done.headers["location"]).text
    assert c.post("/repositories/apps/repo-002/scan", data={"csrf": csrf}).status_code == 303
    assert source.scans == ["apps/repo-002"]
    assert c.post("/automations/apps/nope/run", data={"csrf": csrf}).status_code == 404


def test_session_cookie_is_httponly_and_samesite_strict() -> None:
    c = client(sample())
    form = c.get("/login")
    assert "httponly" in form.headers["set-cookie"].lower()
    response = c.post("/login", data={"csrf": csrf_of(form.text), "token": TOKEN})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
    assert TOKEN not in cookie


def test_logout_ends_the_session() -> None:
    source = sample()
    c = client(source)
    csrf = log_in(c)
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    c.cookies.clear()
    assert c.post("/automations/apps/fleet-01/run", data={"csrf": csrf}).status_code == 403


def test_ui_auth_all_puts_pages_and_json_behind_the_login() -> None:
    c = client(sample(), UiSettings(token=TOKEN, access=PageAccess.ALL))
    page = c.get("/policies")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fpolicies"
    assert c.get("/status/policies").status_code == 401
    log_in(c)
    assert c.get("/policies").status_code == 200
    assert c.get("/status/policies").status_code == 200


def test_settings_refuse_a_short_token_and_all_without_a_token() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        UiSettings(token="short")
    with pytest.raises(ValueError, match="needs a token"):
        UiSettings(token=None, access=PageAccess.ALL)
    assert TOKEN not in repr(UiSettings(token=TOKEN))


def test_assets_are_served_and_cacheable() -> None:
    c = client(sample())
    html = c.get("/").text
    css = re.search(r'href="(/ui/app\.css\?v=[0-9a-f]+)"', html)
    js = re.search(r'src="(/ui/app\.js\?v=[0-9a-f]+)"', html)
    assert css and js
    response = c.get(css.group(1))
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert "text/javascript" in c.get(js.group(1)).headers["content-type"]
    assert c.get("/ui/../../etc/passwd").status_code == 404


def test_status_served_here_follows_the_login_rule() -> None:
    def status() -> dict[str, object]:
        return {"repositories": [], "policies": []}

    source = sample()
    open_app = Starlette(routes=ui_routes(source, source, UiSettings(token=TOKEN), status=status))
    assert TestClient(open_app).get("/status").json() == {"repositories": [], "policies": []}
    closed = Starlette(routes=ui_routes(source, source, UiSettings(token=TOKEN, access=PageAccess.ALL),
                                        status=status))
    c = TestClient(closed, base_url=BASE, follow_redirects=False)
    assert c.get("/status").status_code == 401
    log_in(c)
    assert c.get("/status").json()["policies"] == []
