"""Attacks on the status page: script in user data, javascript: links, forged and cross-site POSTs,
login guessing, off-site redirects, oversized forms. Each was tried once; each stays here."""

from __future__ import annotations

from imagebot.service.ui.auth import LOGIN_COOKIE, SESSION_COOKIE
from imagebot.service.ui.source import AutomationStatus, RepositoryStatus
from tests.ui._client import BASE, TOKEN, client, csrf_of, log_in
from tests.ui._data import sample


def test_user_data_is_escaped_everywhere() -> None:
    source = sample(failing=0)
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    source.repos.append(RepositoryStatus("apps", "evil", "registry.example.com/x", error=f"registry said: {evil}"))
    html = client(source).get("/repositories").text
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_pull_request_url_that_is_not_http_is_not_a_link() -> None:
    source = sample(failing=0)
    source.autos[0] = AutomationStatus("apps", "fleet-00", pull_request="javascript:alert(1)")
    html = client(source).get("/automations").text
    assert 'href="javascript:' not in html
    assert client(source).get("/status/automations").json()["automations"][0]["pullRequestUrl"] is None


def test_post_without_the_csrf_token_is_refused_even_when_logged_in() -> None:
    source = sample()
    c = client(source)
    csrf = log_in(c)
    assert c.post("/automations/apps/fleet-01/run", data={"next": "/"}).status_code == 403
    assert c.post("/automations/apps/fleet-01/run", data={"csrf": csrf[:-1] + "x"}).status_code == 403
    cross = c.post("/automations/apps/fleet-01/run", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "another site" in cross.text
    json_body = c.post("/automations/apps/fleet-01/run", json={"csrf": csrf})
    assert json_body.status_code == 415
    assert source.runs == []
    assert c.post("/automations/apps/fleet-01/run", data={"csrf": csrf}, headers={"Origin": BASE}).status_code == 303


def test_login_form_needs_its_own_csrf_token_and_the_right_token() -> None:
    c = client(sample())
    c.get("/login")
    assert c.post("/login", data={"csrf": "forged", "token": TOKEN}).status_code == 403
    pre = c.cookies[LOGIN_COOKIE]
    wrong = c.post("/login", data={"csrf": pre, "token": "not-the-token-at-all"})
    assert wrong.status_code == 401 and "not the token" in wrong.text
    assert SESSION_COOKIE not in c.cookies


def test_login_attempts_are_limited() -> None:
    c = client(sample())
    c.get("/login")
    pre = c.cookies[LOGIN_COOKIE]
    codes = [c.post("/login", data={"csrf": pre, "token": f"guess-{i:016}"}).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    assert c.post("/login", data={"csrf": pre, "token": TOKEN}).status_code == 429


def test_login_does_not_redirect_off_site() -> None:
    c = client(sample())
    form = c.get("/login?next=//evil.example/x")
    response = c.post("/login", data={"csrf": csrf_of(form.text), "token": TOKEN, "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_oversized_form_is_refused() -> None:
    c = client(sample())
    c.get("/login")
    response = c.post("/login", data={"csrf": c.cookies[LOGIN_COOKIE], "token": "x" * 10_000})
    assert response.status_code == 413


def test_credentials_in_a_git_url_never_reach_the_page() -> None:
    source = sample(failing=0)
    secret_url = "https://bot:s3cr3t-token-value@github.com/example/fleet.git"
    sha = "0123456789abcdef0123456789abcdef01234567"
    source.autos[0] = AutomationStatus("apps", "fleet-00", repository_url=secret_url, commit=sha, outcome="committed")
    c = client(source)
    for path in ("/automations", "/status/automations", "/automations/apps/fleet-00",
                 "/status/automations/apps/fleet-00"):
        text = c.get(path).text
        assert "s3cr3t-token-value" not in text, path
    doc = c.get("/status/automations").json()["automations"]
    fleet = next(a for a in doc if a["key"] == "apps/fleet-00")
    assert fleet["repository"] == "https://github.com/example/fleet.git"
    assert fleet["commitUrl"] == f"https://github.com/example/fleet/commit/{sha}"
