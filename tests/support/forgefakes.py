"""Local GitHub, GitLab and Gitea API servers for the forge tests, checked against the published
API descriptions in fixtures/openapi/ (made by scripts/extract-openapi).

Every request is matched to an operation of the description and validated: path parameters, query
parameters (unknown ones too), the JSON body (required fields, types, and no fields the description
does not list). A request that fails gets a 422 saying what was wrong and is recorded in
`fake.violations`; the fixtures fail the test if any remain. Every answer is built from the
operation's response schema and validated against it before it is sent.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jsonschema
import pytest

SPECS = Path(__file__).resolve().parents[2] / "fixtures" / "openapi"
TOKEN = "tok-imagebot-test-5ecr3t-value"


class Reply(Exception):
    """Raised by a handler to answer with an error status and body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass
class Operation:
    key: str
    method: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]


class ApiDescription:
    """One forge's extracted description: route matching, request validation, response building."""

    def __init__(self, name: str, base_path: str = "") -> None:
        doc = json.loads((SPECS / f"{name}.json").read_text(encoding="utf-8"))
        self.name = name
        self.base_path = base_path
        self.schemas: dict[str, Any] = doc["schemas"]
        self.source: dict[str, Any] = doc["source"]
        self._strict_schemas = {k: _strict(v) for k, v in self.schemas.items()}
        self.operations: list[Operation] = []
        for key, spec in doc["operations"].items():
            method, path = key.split(" ", 1)
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
            self.operations.append(Operation(key, method, re.compile(f"^{regex}$"), spec))

    def match(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
        path = raw_path[len(self.base_path) :] if raw_path.startswith(self.base_path) else raw_path
        for op in self.operations:
            m = op.pattern.match(path)
            if m and op.method == method:
                return op, m.groupdict()
        return None

    def _validator(self, schema: Any, *, strict: bool) -> jsonschema.Draft7Validator:
        # "#/schemas/NAME" refs resolve inside the root document, next to the schema itself.
        root = {"schemas": self._strict_schemas if strict else self.schemas}
        return jsonschema.Draft7Validator({**root, **(_strict(schema) if strict else schema)})

    def check(self, schema: Any, value: Any, where: str, *, strict: bool) -> list[str]:
        errors = sorted(self._validator(schema, strict=strict).iter_errors(value), key=lambda e: list(e.path))
        return [f"{where}{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}" for e in errors]

    def validate_request(
        self,
        op: Operation,
        path_params: dict[str, str],
        query: list[tuple[str, str]],
        content_type: str,
        raw_body: bytes,
    ) -> list[str]:
        problems: list[str] = []
        params = {(p["in"], p["name"]): p for p in op.spec["parameters"]}
        for name, raw in path_params.items():
            param = params.get(("path", name))
            value = _coerce(unquote(raw), param["schema"]) if param else raw
            problems += self.check(param["schema"], value, f"path parameter {name}", strict=False) if param else []
        seen: dict[str, list[str]] = {}
        for name, raw in query:
            seen.setdefault(name.removesuffix("[]"), []).append(raw)
        for name, raws in seen.items():
            param = params.get(("query", name))
            if param is None:
                problems.append(f"query parameter {name!r} is not in the {self.name} description of {op.key}")
                continue
            schema = param["schema"]
            if schema.get("type") == "array":
                items = [v for raw in raws for v in raw.split(",")]
                value: Any = [_coerce(v, schema.get("items", {})) for v in items]
            elif len(raws) > 1:
                problems.append(f"query parameter {name!r} given {len(raws)} times")
                continue
            else:
                value = _coerce(raws[0], schema)
            problems += self.check(schema, value, f"query parameter {name}", strict=False)
        for (where, name), param in params.items():
            if where == "query" and param["required"] and name not in seen:
                problems.append(f"required query parameter {name!r} is missing")
        body_spec = op.spec["requestBody"]
        if not raw_body:
            if body_spec and body_spec["required"]:
                problems.append("the request body is required")
            return problems
        if body_spec is None:
            return [*problems, f"{op.key} takes no request body"]
        if not content_type.startswith("application/json"):
            problems.append(f"Content-Type {content_type!r} is not application/json")
        try:
            body = json.loads(raw_body)
        except ValueError as exc:
            return [*problems, f"the body is not JSON: {exc}"]
        return problems + self.check(body_spec["schema"], body, "body", strict=True)

    def response_schema(self, op: Operation, status: int) -> Any:
        response = op.spec["responses"].get(str(status))
        if response is None:
            raise AssertionError(f"{op.key} has no {status} response in the {self.name} description")
        return response["schema"]

    def build(self, schema: Any, overrides: Any) -> Any:
        """A value valid for `schema` carrying the given overrides (nested dicts and lists)."""
        return _Builder(self.schemas).make(schema, overrides, 0)


def _strict(schema: Any) -> Any:
    """Objects that list their properties accept no others: catches misspelt or invented fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (_strict(v) if k not in ("properties", "enum", "required") else v) for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    """Read a path or query string as the type the description gives it (left as text if it isn't)."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw)
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    return raw


_STRINGS = {
    "date-time": "2026-01-02T03:04:05Z",
    "date": "2026-01-02",
    "uri": "https://example.invalid/x",
    "email": "bot@example.invalid",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


class _Builder:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def make(self, schema: Any, override: Any, depth: int) -> Any:
        if not isinstance(schema, dict) or not schema:
            return copy.deepcopy(override) if override is not None else {}
        if "$ref" in schema:
            return self.make(self.schemas[schema["$ref"].rsplit("/", 1)[-1]], override, depth + 1)
        if "allOf" in schema:
            out: dict[str, Any] = {}
            for part in schema["allOf"]:
                out.update(self.make(part, override, depth + 1))
            return out
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [o for o in schema[key] if o.get("type") != "null"]
                if override is None and len(options) < len(schema[key]):
                    return None
                return self.make(options[0], override, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            if override is None and "null" in kind:
                return None
            kind = next(k for k in kind if k != "null")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            given = override if isinstance(override, dict) else {}
            out = {name: self.make(props.get(name, {}), value, depth + 1) for name, value in given.items()}
            for name in schema.get("required", []):
                if name not in out:
                    out[name] = self.make(props.get(name, {}), None, depth + 1)
            return out
        if override is not None:
            if kind == "array" and isinstance(override, list):
                return [self.make(schema.get("items", {}), item, depth + 1) for item in override]
            return copy.deepcopy(override)
        if "enum" in schema:
            return schema["enum"][0]
        if kind == "array":
            return [self.make(schema.get("items", {}), None, depth + 1) for _ in range(schema.get("minItems", 0))]
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return 1.0
        if kind == "boolean":
            return False
        if kind == "string":
            return _STRINGS.get(schema.get("format", ""), "x")
        return None


@dataclass
class FakePull:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)


@dataclass
class FakeRelease:
    tag: str
    name: str
    body: str


@dataclass
class FakeRepository:
    path: str
    branches: set[str]
    labels: dict[str, int] = field(default_factory=dict)  # name -> id (Gitea adds labels by id)
    pulls: list[FakePull] = field(default_factory=list)
    releases: dict[str, FakeRelease] = field(default_factory=dict)  # by tag name

    def open_pull(self, head: str, base: str) -> FakePull | None:
        return next((p for p in self.pulls if p.state == "open" and p.head == head and p.base == base), None)


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any


class FakeForge:
    """A forge API on 127.0.0.1; subclasses implement the operations one forge's client uses."""

    name = ""
    base_path = ""  # where the API is served
    spec_prefix = ""  # the part of base_path that the description's paths leave out

    def __init__(self, token: str = TOKEN) -> None:
        self.api = ApiDescription(self.name, self.spec_prefix)
        self.scheme = "http"
        self.token = token
        self.token_can_write = True
        self.anonymous_reads = False  # a public repository: GETs without a token are answered
        self.rate_limited = ""  # requests whose path contains this are answered as a rate-limited client is
        self.repositories: dict[str, FakeRepository] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + self.base_path

    def add_repository(self, path: str, branches: set[str], labels: dict[str, int] | None = None) -> FakeRepository:
        repo = FakeRepository(path, set(branches), dict(labels or {}))
        self.repositories[path] = repo
        return repo

    def take_violations(self) -> list[str]:
        taken, self.violations = self.violations, []
        return taken

    def calls(self, method: str, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    @contextmanager
    def serve(self, tls: ssl.SSLContext | None = None) -> Iterator[FakeForge]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.handle(self.command, self.path, dict(self.headers.items()), raw)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
            self.scheme = "https"
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    def handle(self, method: str, raw_target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        target = urlsplit(raw_target)
        query = parse_qsl(target.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Recorded(method, target.path, query, headers, body))
            matched = self.api.match(method, target.path)
            if matched is None:
                self.violations.append(f"{method} {target.path}: no such operation in the {self.name} description")
                return 404, {"message": "Not Found"}
            op, path_params = matched
            anonymous = method == "GET" and self.anonymous_reads and not self.carries_token(headers)
            if not anonymous and not self.authenticated(headers):
                return 401, self.unauthorized_body()
            if self.rate_limited and self.rate_limited in target.path:
                return self.rate_limited_reply()
            problems = self.check_headers(headers)
            problems += self.api.validate_request(op, path_params, query, headers.get("content-type", ""), raw)
            if problems:
                self.violations.append(f"{op.key}: " + "; ".join(problems))
                return 422, {"message": f"request does not match the {self.name} API description", "errors": problems}
            params = {k: unquote(v) for k, v in path_params.items()}
            try:
                handler: Callable[..., tuple[int, Any]] = getattr(self, _handler_name(op.key))
                repo = self.repository(params)
                if method != "GET" and not self.token_can_write:
                    raise Reply(403, self.forbidden_body())
                status, overrides = handler(repo, params, dict(query), body)
            except Reply as reply:
                return reply.status, reply.body
            schema = self.api.response_schema(op, status)
            answer = self.api.build(schema, overrides) if schema is not None else overrides
            wrong = self.api.check(schema, answer, "response", strict=False) if schema is not None else []
            if wrong:
                self.violations.append(f"{op.key}: the fake built an invalid response: {wrong}")
                return 500, {"message": "fake built an invalid response"}
            return status, answer

    # Per forge:
    def authenticated(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def check_headers(self, headers: dict[str, str]) -> list[str]:
        return []

    def carries_token(self, headers: dict[str, str]) -> bool:
        return "authorization" in headers

    def rate_limited_reply(self) -> tuple[int, Any]:
        return 429, {"message": "Too Many Requests"}

    def repository(self, params: dict[str, str]) -> FakeRepository:
        raise NotImplementedError

    def unauthorized_body(self) -> Any:
        return {"message": "Unauthorized"}

    def forbidden_body(self) -> Any:
        return {"message": "Forbidden"}

    def next_number(self) -> int:
        return next(self._numbers)


def _handler_name(key: str) -> str:
    method, path = key.split(" ", 1)
    words = [w for w in re.split(r"[^a-z]+", path.lower()) if w and w not in ("api", "v")]
    return "op_" + method.lower() + "_" + "_".join(words)


class GitHubFake(FakeForge):
    name = "github"

    def authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.token}"

    def check_headers(self, headers: dict[str, str]) -> list[str]:
        problems = []
        if headers.get("accept") != "application/vnd.github+json":
            problems.append("Accept must be application/vnd.github+json")
        if headers.get("x-github-api-version") != "2022-11-28":
            problems.append("X-GitHub-Api-Version must be 2022-11-28")
        return problems

    def unauthorized_body(self) -> Any:
        return {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}

    def forbidden_body(self) -> Any:
        return {
            "message": "Resource not accessible by personal access token",
            "documentation_url": "https://docs.github.com/rest",
            "status": "403",
        }

    def repository(self, params: dict[str, str]) -> FakeRepository:
        repo = self.repositories.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            raise Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        return repo

    def _pr(self, repo: FakeRepository, pr: FakePull) -> dict[str, Any]:
        owner = repo.path.split("/")[0]
        return {
            "number": pr.number,
            "html_url": f"{self.url}/{repo.path}/pull/{pr.number}",
            "url": f"{self.url}/repos/{repo.path}/pulls/{pr.number}",
            "title": pr.title,
            "body": pr.body,
            "state": pr.state,
            "head": {"ref": pr.head, "label": f"{owner}:{pr.head}"},
            "base": {"ref": pr.base, "label": f"{owner}:{pr.base}"},
            "labels": [{"name": name} for name in pr.labels],
        }

    def _find(self, repo: FakeRepository, number: str) -> FakePull:
        pr = next((p for p in repo.pulls if p.number == int(number)), None)
        if pr is None:
            raise Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        return pr

    def rate_limited_reply(self) -> tuple[int, Any]:
        # GitHub's primary rate limit: 403 (or 429) with this message
        return 403, {"message": "API rate limit exceeded for 127.0.0.1.",
                     "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api"}

    def op_get_repos_owner_repo_releases_tags_tag(self, repo, params, query, body):
        release = repo.releases.get(params["tag"])
        if release is None:
            raise Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        return 200, {"tag_name": release.tag, "name": release.name, "body": release.body,
                     "html_url": f"{self.url}/{repo.path}/releases/tag/{release.tag}"}

    def op_get_repos_owner_repo_pulls(self, repo, params, query, body):
        owner = repo.path.split("/")[0]
        pulls = [p for p in repo.pulls if query.get("state", "open") in (p.state, "all")]
        if "head" in query:
            pulls = [p for p in pulls if f"{owner}:{p.head}" == query["head"]]
        if "base" in query:
            pulls = [p for p in pulls if p.base == query["base"]]
        return 200, [self._pr(repo, p) for p in pulls]

    def op_post_repos_owner_repo_pulls(self, repo, params, query, body):
        for side in ("head", "base"):
            if body.get(side) not in repo.branches:
                raise Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "field": side, "code": "invalid"}],
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "422",
                    },
                )
        if repo.open_pull(body["head"], body["base"]):
            owner = repo.path.split("/")[0]
            raise Reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {owner}:{body['head']}.",
                        }
                    ],
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "422",
                },
            )
        pr = FakePull(self.next_number(), body["head"], body["base"], body.get("title", ""), body.get("body", ""))
        repo.pulls.append(pr)
        return 201, self._pr(repo, pr)

    def op_patch_repos_owner_repo_pulls_pull_number(self, repo, params, query, body):
        pr = self._find(repo, params["pull_number"])
        pr.title = body.get("title", pr.title)
        pr.body = body.get("body", pr.body)
        return 200, self._pr(repo, pr)

    def op_post_repos_owner_repo_issues_issue_number_labels(self, repo, params, query, body):
        pr = self._find(repo, params["issue_number"])
        for label in body["labels"]:
            if label not in pr.labels:
                pr.labels.append(label)
        return 200, [{"name": n, "id": i + 1, "color": "ededed"} for i, n in enumerate(pr.labels)]

    def op_post_repos_owner_repo_pulls_pull_number_requested_reviewers(self, repo, params, query, body):
        pr = self._find(repo, params["pull_number"])
        for name in body.get("reviewers", []) + [f"team:{t}" for t in body.get("team_reviewers", [])]:
            if name not in pr.reviewers:
                pr.reviewers.append(name)
        return 201, self._pr(repo, pr)


class GitHubAppFake(GitHubFake):
    """GitHub with a GitHub App: the app endpoints take only a JWT that the app's public key verifies
    (RS256, iss = the app ID, lifetime at most 10 minutes, as GitHub's documentation requires), and
    answer with installation tokens; the other endpoints take only an unexpired installation token."""

    def __init__(self, app_id: int, public_key_pem: bytes, installations: dict[int, str],
                 token_lifetime: float = 3600.0, users: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.users = users  # owners that are users; the others are organisations
        self.app_id = app_id
        self.public_key_pem = public_key_pem
        self.installations = installations  # installation ID -> owner login
        self.token_lifetime = token_lifetime
        self.issued: dict[str, float] = {}  # installation token -> expiry (time.time())
        self.jwts: list[dict[str, Any]] = []  # the claims of every JWT accepted
        self.rejected_jwts = 0
        self._current = threading.local()

    def handle(self, method: str, raw_target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        self._current.app_call = urlsplit(raw_target).path.startswith(("/app/", "/orgs/", "/users/"))
        return super().handle(method, raw_target, headers, raw)

    def authenticated(self, headers: dict[str, str]) -> bool:
        header = headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        credential = header.removeprefix("Bearer ")
        if self._current.app_call:
            return self._verify_jwt(credential)
        expires = self.issued.get(credential)
        return expires is not None and expires > time.time()

    def _verify_jwt(self, token: str) -> bool:
        import jwt

        try:
            claims = jwt.decode(token, self.public_key_pem, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"], "verify_iat": False})
        except jwt.PyJWTError:
            self.rejected_jwts += 1
            return False
        now = time.time()
        problems = []
        if claims["iss"] != str(self.app_id):
            problems.append(f"iss is {claims['iss']!r}, not the app ID {self.app_id}")
        if claims["exp"] - claims["iat"] > 600:
            problems.append("the JWT lives longer than 10 minutes")
        if claims["iat"] > now + 60:
            problems.append("iat is in the future")
        if problems:
            self.violations.append("app JWT: " + "; ".join(problems))
            return False
        self.jwts.append(claims)
        return True

    def repository(self, params: dict[str, str]) -> FakeRepository:
        if self._current.app_call:
            return FakeRepository("", set(), {})
        return super().repository(params)

    def unauthorized_body(self) -> Any:
        if self._current.app_call:
            return {"message": "A JSON web token could not be decoded",
                    "documentation_url": "https://docs.github.com/rest", "status": "401"}
        return super().unauthorized_body()

    def _installation(self, installation_id: int, owner: str) -> dict[str, Any]:
        return {"id": installation_id, "app_id": self.app_id, "account": {"login": owner},
                "target_type": "Organization", "repository_selection": "all"}

    def op_post_app_installations_installation_id_access_tokens(self, repo, params, query, body):
        installation_id = int(params["installation_id"])
        if installation_id not in self.installations:
            raise Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        token = f"ghs_{secrets.token_urlsafe(27)}"
        expires = time.time() + self.token_lifetime
        self.issued[token] = expires
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {"token": token, "expires_at": stamp, "permissions": {"contents": "write",
                                                                           "pull_requests": "write"},
                     "repository_selection": "all"}

    def _find_installation(self, owner: str, user: bool) -> tuple[int, dict[str, Any]]:
        for installation_id, login in self.installations.items():
            if login == owner and (owner in self.users) == user:
                return 200, self._installation(installation_id, login)
        raise Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def op_get_orgs_org_installation(self, repo, params, query, body):
        return self._find_installation(params["org"], user=False)

    def op_get_users_username_installation(self, repo, params, query, body):
        return self._find_installation(params["username"], user=True)


class GitLabFake(FakeForge):
    name = "gitlab"
    base_path = "/api/v4"

    def authenticated(self, headers: dict[str, str]) -> bool:
        return self.token in (headers.get("private-token"), headers.get("authorization", "").removeprefix("Bearer "))

    def unauthorized_body(self) -> Any:
        return {"message": "401 Unauthorized"}

    def forbidden_body(self) -> Any:
        return {"message": "403 Forbidden"}

    def repository(self, params: dict[str, str]) -> FakeRepository:
        repo = self.repositories.get(params["id"])
        if repo is None:
            raise Reply(404, {"message": "404 Project Not Found"})
        return repo

    def _mr(self, repo: FakeRepository, pr: FakePull) -> dict[str, Any]:
        # Shaped as the description says (it types labels as a string, reviewers as one user).
        return {
            "id": 1000 + pr.number,
            "iid": pr.number,
            "project_id": 7,
            "title": pr.title,
            "description": pr.body,
            "state": "opened" if pr.state == "open" else pr.state,
            "source_branch": pr.head,
            "target_branch": pr.base,
            "web_url": f"{self.url}/{repo.path}/-/merge_requests/{pr.number}",
            "labels": ",".join(pr.labels),
        }

    def op_get_projects_id_merge_requests(self, repo, params, query, body):
        state = {"opened": "open"}.get(query.get("state", "all"), query.get("state", "all"))
        pulls = [p for p in repo.pulls if state in (p.state, "all")]
        pulls = [p for p in pulls if query.get("source_branch", p.head) == p.head]
        pulls = [p for p in pulls if query.get("target_branch", p.base) == p.base]
        # Items are API_Entities_MergeRequestBasic, which the excerpt does not expand: build full ones.
        return 200, [self.api.build({"$ref": "#/schemas/API_Entities_MergeRequest"}, self._mr(repo, p)) for p in pulls]

    def op_post_projects_id_merge_requests(self, repo, params, query, body):
        for side in ("source_branch", "target_branch"):
            if body[side] not in repo.branches:
                raise Reply(422, {"message": [f"{side.split('_')[0].title()} branch {body[side]!r} does not exist"]})
        existing = repo.open_pull(body["source_branch"], body["target_branch"])
        if existing:
            raise Reply(
                409,
                {"message": [f"Another open merge request already exists for this source branch: !{existing.number}"]},
            )
        pr = FakePull(
            self.next_number(),
            body["source_branch"],
            body["target_branch"],
            body["title"],
            body.get("description", ""),
            labels=list(body.get("labels", [])),
            reviewers=[str(i) for i in body.get("reviewer_ids", [])],
        )
        repo.pulls.append(pr)
        return 201, self._mr(repo, pr)

    def carries_token(self, headers: dict[str, str]) -> bool:
        return "private-token" in headers or "authorization" in headers

    def op_get_projects_id_releases_tag_name(self, repo, params, query, body):
        release = repo.releases.get(params["tag_name"])
        if release is None:
            raise Reply(404, {"message": "404 Not found"})
        # API_Entities_Release lies outside the excerpt read: the shape is GitLab's documented one
        return 200, {"tag_name": release.tag, "name": release.name, "description": release.body,
                     "_links": {"self": f"{self.url}/{repo.path}/-/releases/{release.tag}"}}

    def op_put_projects_id_merge_requests_merge_request_iid(self, repo, params, query, body):
        pr = next((p for p in repo.pulls if p.number == int(params["merge_request_iid"])), None)
        if pr is None:
            raise Reply(404, {"message": "404 Not found"})
        pr.title = body.get("title", pr.title)
        pr.body = body.get("description", pr.body)
        pr.labels += [label for label in body.get("add_labels", []) if label not in pr.labels]
        if "reviewer_ids" in body:
            pr.reviewers = [str(i) for i in body["reviewer_ids"]]
        return 200, self._mr(repo, pr)


class GiteaFake(FakeForge):
    name = "gitea"
    base_path = spec_prefix = "/api/v1"
    page_limit = 50

    def authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"token {self.token}"

    def unauthorized_body(self) -> Any:
        return {"message": "invalid username, password or token", "url": f"{self.url}/api/swagger"}

    def forbidden_body(self) -> Any:
        return {
            "message": "token does not have at least one of required scope(s): [write:repository]",
            "url": f"{self.url}/api/swagger",
        }

    def repository(self, params: dict[str, str]) -> FakeRepository:
        repo = self.repositories.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            raise Reply(
                404,
                {
                    "errors": ["user redirect does not exist"],
                    "message": "The target couldn't be found.",
                    "url": f"{self.url}/api/swagger",
                },
            )
        return repo

    def _page(self, items: list[Any], query: dict[str, str]) -> list[Any]:
        limit = min(int(query.get("limit", self.page_limit)), self.page_limit)
        start = (int(query.get("page", 1)) - 1) * limit
        return items[start : start + limit]

    def _pr(self, repo: FakeRepository, pr: FakePull) -> dict[str, Any]:
        full = {"full_name": repo.path, "name": repo.path.split("/")[1]}
        return {
            "number": pr.number,
            "id": 500 + pr.number,
            "title": pr.title,
            "body": pr.body,
            "state": pr.state,
            "html_url": f"{self.url}/{repo.path}/pulls/{pr.number}",
            "head": {"ref": pr.head, "label": pr.head, "repo": full},
            "base": {"ref": pr.base, "label": pr.base, "repo": full},
            "labels": [{"id": repo.labels[n], "name": n} for n in pr.labels],
            "requested_reviewers": [{"login": r} for r in pr.reviewers],
        }

    def _find(self, repo: FakeRepository, index: str) -> FakePull:
        pr = next((p for p in repo.pulls if p.number == int(index)), None)
        if pr is None:
            raise Reply(404, {"errors": [], "message": "not found", "url": f"{self.url}/api/swagger"})
        return pr

    def op_get_repos_owner_repo_pulls(self, repo, params, query, body):
        pulls = [p for p in repo.pulls if query.get("state", "open") in (p.state, "all")]
        return 200, [self._pr(repo, p) for p in self._page(pulls, query)]

    def op_post_repos_owner_repo_pulls(self, repo, params, query, body):
        for side in ("head", "base"):
            if body.get(side) not in repo.branches:
                raise Reply(
                    404,
                    {
                        "errors": [],
                        "message": f"branch {body.get(side)!r} does not exist",
                        "url": f"{self.url}/api/swagger",
                    },
                )
        if not body.get("title"):
            raise Reply(422, {"message": "[Title]: Required", "url": f"{self.url}/api/swagger"})
        if repo.open_pull(body["head"], body["base"]):
            raise Reply(
                409, {"message": "pull request already exists for these targets", "url": f"{self.url}/api/swagger"}
            )
        pr = FakePull(self.next_number(), body["head"], body["base"], body["title"], body.get("body", ""))
        repo.pulls.append(pr)
        return 201, self._pr(repo, pr)

    def op_patch_repos_owner_repo_pulls_index(self, repo, params, query, body):
        pr = self._find(repo, params["index"])
        pr.title = body.get("title", pr.title)
        pr.body = body.get("body", pr.body)
        return 201, self._pr(repo, pr)

    def op_get_repos_owner_repo_releases_tags_tag(self, repo, params, query, body):
        release = repo.releases.get(params["tag"])
        if release is None:
            raise Reply(404, None)  # Gitea's notFound response has no body schema
        return 200, {"tag_name": release.tag, "name": release.name, "body": release.body,
                     "html_url": f"{self.url}/{repo.path}/releases/tag/{release.tag}"}

    def op_get_repos_owner_repo_labels(self, repo, params, query, body):
        labels = [{"id": i, "name": n, "color": "ededed"} for n, i in sorted(repo.labels.items())]
        return 200, self._page(labels, query)

    def op_post_repos_owner_repo_issues_index_labels(self, repo, params, query, body):
        pr = self._find(repo, params["index"])
        names = {i: n for n, i in repo.labels.items()}
        for label_id in body.get("labels", []):
            if label_id not in names:
                raise Reply(422, {"message": f"label {label_id} does not exist", "url": f"{self.url}/api/swagger"})
            if names[label_id] not in pr.labels:
                pr.labels.append(names[label_id])
        return 200, [{"id": repo.labels[n], "name": n} for n in pr.labels]

    def op_post_repos_owner_repo_pulls_index_requested_reviewers(self, repo, params, query, body):
        pr = self._find(repo, params["index"])
        names = body.get("reviewers", []) + [f"team:{t}" for t in body.get("team_reviewers", [])]
        pr.reviewers += [n for n in names if n not in pr.reviewers]
        return 201, [{"id": i + 1, "state": "REQUEST_REVIEW", "user": {"login": n}} for i, n in enumerate(names)]


@contextmanager
def _running(fake: FakeForge) -> Iterator[FakeForge]:
    with fake.serve():
        yield fake
    assert not fake.violations, "requests the real API would reject:\n" + "\n".join(fake.violations)


@pytest.fixture
def github_fake() -> Iterator[GitHubFake]:
    fake = GitHubFake()
    fake.add_repository("acme/deploy", branches={"main", "imagebot/updates"})
    with _running(fake):
        yield fake


@pytest.fixture
def gitlab_fake() -> Iterator[GitLabFake]:
    fake = GitLabFake()
    fake.add_repository("platform/apps/deploy", branches={"main", "imagebot/updates"})
    with _running(fake):
        yield fake


@pytest.fixture
def gitea_fake() -> Iterator[GiteaFake]:
    fake = GiteaFake()
    fake.add_repository(
        "acme/deploy", branches={"main", "imagebot/updates"}, labels={"dependencies": 3, "automerge": 9, "bug": 1}
    )
    with _running(fake):
        yield fake
