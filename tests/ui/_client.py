"""Starlette's TestClient on the status page's routes over data in memory, and a login through its form."""

from __future__ import annotations

import re
import warnings

from starlette.applications import Starlette

from imagebot.service.ui import UiSettings, ui_routes
from tests.ui._data import FixedSource

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx is the project's client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "operator-token-0123456789"
BASE = "http://testserver"


def client(source: FixedSource, settings: UiSettings | None = None, actions: bool = True) -> TestClient:
    app = Starlette(routes=ui_routes(source, source if actions else None, settings or UiSettings(token=TOKEN)))
    return TestClient(app, base_url=BASE, follow_redirects=False)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def log_in(c: TestClient) -> str:
    """Log in through the form; the session's CSRF token, read off a page."""
    form = c.get("/login")
    response = c.post("/login", data={"csrf": csrf_of(form.text), "token": TOKEN, "next": "/automations"})
    assert response.status_code == 303 and response.headers["location"] == "/automations"
    return csrf_of(c.get("/automations").text)
