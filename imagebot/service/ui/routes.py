"""The status page's routes on Starlette: HTML pages, their JSON twins under /status/, login, actions.

    routes = ui_routes(source, actions, UiSettings(token=...))   # mount these on the service's app

Pages:  /  /repositories  /policies  /policies/{ns}/{name}  /automations  /automations/{ns}/{name}
        /receivers, each with its JSON at /status/<same path> (/ is /status/overview)
Forms:  GET/POST /login, POST /logout, POST /repositories/{ns}/{name}/scan, POST /automations/{ns}/{name}/run
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from imagebot.approval import Approval
from imagebot.service.ui import fragments, views
from imagebot.service.ui.approvals import ApprovalDesk, approval_routes
from imagebot.service.ui.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Session,
    Sessions,
    TooManyAttempts,
    UiSettings,
    safe_next,
    same_origin,
    same_token,
)
from imagebot.service.ui.source import ActionRefused, StatusSource, UiActions

MAX_FORM = 4096  # bytes: the largest form here holds a token and a CSRF token
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store",
}

# Lists of 500 rows are 300 KB of HTML and 15 KB gzipped; small answers are left as they are.
GZIP = [Middleware(GZipMiddleware, minimum_size=1024)]

Builder = Callable[..., views.Document | None]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ui_routes(source: StatusSource, actions: UiActions | None, settings: UiSettings, *,
              status: Callable[[], Mapping[str, object]] | None = None,
              approvals: tuple[ApprovalDesk, Callable[[Approval], None]] | None = None) -> list[BaseRoute]:
    """The status page's routes, reading `source`; `actions` None (or no token in `settings`) turns
    the buttons off. With `status` (the service's /status document), /status is served here too,
    behind the login when `settings` puts the pages there. With `approvals` (the state database and
    what runs an approved automation), /approvals too (ui/approvals.py)."""
    page = StatusPage(source, actions, settings, status)
    routes = page.routes()
    if approvals is not None:
        routes = approval_routes(page, *approvals) + routes
        page.env.globals["approvals_served"] = True
    return routes


class StatusPage:
    def __init__(self, source: StatusSource, actions: UiActions | None, settings: UiSettings,
                 status: Callable[[], Mapping[str, object]] | None = None) -> None:
        self.source = source
        self.status = status
        self.actions = actions
        self.settings = settings
        self.sessions = Sessions(settings)
        # auto_reload off: the templates are package files, not to be stat()ed on every request
        self.env = Environment(loader=PackageLoader("imagebot.service.ui"), autoescape=True, auto_reload=False,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["short"] = fragments.short
        self.env.globals.update(when=fragments.when, anchor=fragments.anchor, image=fragments.image,
                                error=fragments.error, action=fragments.action)
        self.env.filters["path"] = lambda key: quote(key, safe="/")
        self.assets = {name: (files("imagebot.service.ui") / "static" / name).read_bytes()
                       for name in ("app.css", "app.js")}
        self.versions = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in self.assets.items()}
        self.env.globals["approvals_served"] = False
        self.env.globals["asset"] = lambda name: f"/ui/{name}?v={self.versions[name]}"

    @property
    def actions_enabled(self) -> bool:
        return self.actions is not None and self.settings.actions_enabled

    def routes(self) -> list[BaseRoute]:
        pages: list[tuple[str, str, str, Builder]] = [
            ("/", "overview", "overview.html", views.overview_page),
            ("/repositories", "repositories", "repositories.html", views.repositories_page),
            ("/policies", "policies", "policies.html", views.policies_page),
            ("/policies/{namespace}/{name}", "policies", "policy.html", views.policy_page),
            ("/automations", "automations", "automations.html", views.automations_page),
            ("/automations/{namespace}/{name}", "automations", "automation.html", views.automation_page),
            ("/receivers", "receivers", "receivers.html", views.receivers_page),
        ]
        routes: list[BaseRoute] = []
        for path, nav, template, build in pages:
            json_path = "/status/overview" if path == "/" else "/status" + path
            routes.append(Route(path, self._html(nav, template, build, json_path), methods=["GET"],
                                middleware=GZIP))
            routes.append(Route(json_path, self._json(build), methods=["GET"], middleware=GZIP))
        if self.status is not None:
            status = self.status
            routes.append(Route("/status", self._json(lambda _: dict(status())), methods=["GET"], middleware=GZIP))
        routes += [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/repositories/{namespace}/{name}/scan", self._action("scan"), methods=["POST"]),
            Route("/automations/{namespace}/{name}/run", self._action("run"), methods=["POST"]),
            Route("/ui/{asset}", self.asset, methods=["GET"], middleware=GZIP),
        ]
        return routes

    # --- pages ---------------------------------------------------------------------------------

    def _build(self, request: Request, build: Builder) -> views.Document | None:
        params = request.path_params
        if "name" in params:
            return build(self.source, f"{params['namespace']}/{params['name']}")
        return build(self.source)

    def _html(self, nav: str, template: str, build: Builder, json_path: str) -> Callable[[Request], Any]:
        async def page(request: Request) -> Response:
            session = self._session(request)
            if self.settings.pages_need_login and session is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", 303, headers=SECURITY_HEADERS)
            if not self.source.ready():
                return self._error(request, 503, "The service has not loaded its configuration yet.")
            doc = self._build(request, build)
            if doc is None:
                return self._error(request, 404, "No such object in the configuration in force.")
            json_url = json_path.format(**request.path_params)
            # the JSON's ETag as of this rendering: the page's script refreshes when it changes
            etag = _etag(json.dumps(doc, separators=(",", ":")).encode())
            return self._render(request, template, session, page=nav, doc=doc, json_url=json_url,
                                etag=etag, notice=_notice(request))

        return page

    def _json(self, build: Builder) -> Callable[[Request], Any]:
        async def document(request: Request) -> Response:
            if self.settings.pages_need_login and self._session(request) is None:
                return JSONResponse({"error": "log in first"}, 401, headers=SECURITY_HEADERS)
            if not self.source.ready():
                return JSONResponse({"error": "not ready"}, 503, headers=SECURITY_HEADERS)
            doc = self._build(request, build)
            if doc is None:
                return JSONResponse({"error": "not found"}, 404, headers=SECURITY_HEADERS)
            body = json.dumps(doc, separators=(",", ":")).encode()
            etag = _etag(body)
            headers = {**SECURITY_HEADERS, "ETag": etag}
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers=headers)
            return Response(body, 200, headers=headers, media_type="application/json")

        return document

    async def asset(self, request: Request) -> Response:
        name = request.path_params["asset"]
        if name not in self.assets:
            return Response("not found\n", 404, media_type="text/plain")
        media = "text/css" if name.endswith(".css") else "text/javascript"
        cache = "public, max-age=31536000, immutable" if request.query_params.get("v") else "no-cache"
        headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        return Response(self.assets[name], 200, headers=headers, media_type=f"{media}; charset=utf-8")

    def _render(self, request: Request, template: str, session: Session | None, status: int = 200,
                **context: Any) -> HTMLResponse:
        context.setdefault("page", "")
        context.setdefault("json_url", "")
        context.setdefault("etag", "")
        context.setdefault("notice", None)
        context.setdefault("doc", {})
        html = self.env.get_template(template).render(
            session=session, csrf=session.csrf if session else "", actions_enabled=self.actions_enabled,
            pages_need_login=self.settings.pages_need_login, here=request.url.path, **context)
        return HTMLResponse(html, status, headers=SECURITY_HEADERS)

    def _error(self, request: Request, status: int, message: str) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"error": message}, status, headers=SECURITY_HEADERS)
        return self._render(request, "error.html", self._session(request), status, status_code=status,
                            message=message)

    # --- sessions ------------------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    async def login_form(self, request: Request) -> Response:
        if not self.actions_enabled:
            return self._error(request, 404, "Logging in is off: the operator has set no token "
                                             "(imagebot run --ui-token-file).")
        pre = request.cookies.get(LOGIN_COOKIE) or _random()
        response = self._render(request, "login.html", self._session(request), login_csrf=pre,
                                next=safe_next(request.query_params.get("next")), failed=False)
        _set_cookie(request, response, LOGIN_COOKIE, pre, 600)
        return response

    async def login(self, request: Request) -> Response:
        if not self.actions_enabled:
            return self._error(request, 404, "Logging in is off: the operator has set no token.")
        try:
            form = await self._checked_form(request, request.cookies.get(LOGIN_COOKIE))
        except _Refused as refused:
            return self._error(request, refused.status, refused.message)
        target = safe_next(form.get("next"))
        try:
            session = self.sessions.login(form.get("token", ""))
        except TooManyAttempts:
            return self._error(request, 429, "Too many failed logins in the last minute; wait and try again.")
        if session is None:
            return self._render(request, "login.html", None, 401, login_csrf=request.cookies[LOGIN_COOKIE],
                                next=target, failed=True)
        response = RedirectResponse(target, 303, headers=SECURITY_HEADERS)
        _set_cookie(request, response, SESSION_COOKIE, session.id, int(self.settings.session_seconds))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        try:
            await self._checked_form(request, session.csrf if session else None)
        except _Refused as refused:
            return self._error(request, refused.status, refused.message)
        self.sessions.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- actions -------------------------------------------------------------------------------

    def _action(self, verb: str) -> Callable[[Request], Any]:
        async def act(request: Request) -> Response:
            if not self.actions_enabled or self.actions is None:
                return self._error(request, 403, "Actions are off: the operator has set no token "
                                                 "(imagebot run --ui-token-file).")
            session = self._session(request)
            if session is None:
                return self._error(request, 403, "Log in to scan or run: actions change state.")
            try:
                await self._checked_form(request, session.csrf)
            except _Refused as refused:
                return self._error(request, refused.status, refused.message)
            key = f"{request.path_params['namespace']}/{request.path_params['name']}"
            try:
                if verb == "scan":
                    self.actions.scan_now(key)
                else:
                    self.actions.run_now(key)
            except ActionRefused as refused:
                return self._error(request, refused.status, refused.message)
            if "application/json" in request.headers.get("accept", ""):
                return JSONResponse({"requested": verb, "key": key}, 202, headers=SECURITY_HEADERS)
            page = "/repositories" if verb == "scan" else "/automations"
            return RedirectResponse(f"{page}?requested={verb}&key={quote(key, safe='/')}", 303,
                                    headers=SECURITY_HEADERS)

        return act

    async def check_form(self, request: Request, expected_csrf: str | None) -> Response | None:
        """None when the POSTed form passes `_checked_form`; else the error page saying why not."""
        try:
            await self._checked_form(request, expected_csrf)
        except _Refused as refused:
            return self._error(request, refused.status, refused.message)
        return None

    async def _checked_form(self, request: Request, expected_csrf: str | None) -> dict[str, str]:
        """The POSTed form, once the request has shown it comes from this site's own page."""
        if not same_origin(request.headers.get("origin"), request.headers.get("referer"),
                           request.headers.get("host")):
            raise _Refused(403, "Refused: the form was sent from another site.")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise _Refused(415, "Expected a form (application/x-www-form-urlencoded).")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                raise _Refused(413, f"The form is over {MAX_FORM} bytes.")
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8))
        except (ValueError, UnicodeDecodeError):
            raise _Refused(400, "The form could not be read.") from None
        if not same_token(form.get("csrf"), expected_csrf):
            raise _Refused(403, "Refused: the form's CSRF token is missing or stale; reload the page and retry.")
        return form


def _notice(request: Request) -> str | None:
    verb, key = request.query_params.get("requested"), request.query_params.get("key")
    if verb == "scan" and key:
        return f"Scan of ImageRepository {key} requested."
    if verb == "run" and key:
        return f"Run of ImageUpdateAutomation {key} requested."
    return None


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _random() -> str:
    return secrets.token_urlsafe(32)


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
