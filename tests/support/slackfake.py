"""A fake Slack on 127.0.0.1: incoming webhooks, the Web API (chat.postMessage, users.info), the
`response_url` of interactions, and a user who clicks buttons (signed block_actions callbacks).

Every message is checked against Block Kit (tests/support/webhookreceiver.validate_slack, plus the
actions block and button element) and every callback is built, by the descriptions recorded in
fixtures/slack/descriptions.json with their sources. A message that fails is answered 400, as Slack
answers `invalid_blocks`, and its problems are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.support.webhookreceiver import validate_slack

DESCRIPTIONS = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "slack" / "descriptions.json")
                          .read_text())
TOKEN = "xoxb-fake-bot-token"


def validate_actions(payload: dict[str, Any]) -> list[str]:
    """The actions blocks and buttons of a message, by the recorded descriptions."""
    errors: list[str] = []
    button = DESCRIPTIONS["button"]
    limit = DESCRIPTIONS["actions_block"]
    for i, block in enumerate(payload.get("blocks") or []):
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= limit["max_elements"]:
            errors.append(f"blocks[{i}].elements: 1 to {limit['max_elements']} elements")
            continue
        if len(str(block.get("block_id", ""))) > limit["block_id_max"]:
            errors.append(f"blocks[{i}].block_id too long")
        ids = set()
        for j, el in enumerate(elements):
            where = f"blocks[{i}].elements[{j}]"
            if not isinstance(el, dict) or el.get("type") != "button":
                errors.append(f"{where}: only buttons are expected")
                continue
            if extra := set(el) - set(button["fields"]):
                errors.append(f"{where}: unknown fields {sorted(extra)}")
            text = el.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text" or not text.get("text") \
                    or len(text["text"]) > button["text_max"]:
                errors.append(f"{where}.text: plain_text of 1 to {button['text_max']} characters")
            action_id = el.get("action_id")
            if not isinstance(action_id, str) or len(action_id) > button["action_id_max"] or action_id in ids:
                errors.append(f"{where}.action_id: unique, at most {button['action_id_max']} characters")
            ids.add(action_id)
            if len(str(el.get("value", ""))) > button["value_max"]:
                errors.append(f"{where}.value: at most {button['value_max']} characters")
            if "style" in el and el["style"] not in button["styles"]:
                errors.append(f"{where}.style: one of {button['styles']}")
    return errors


def validate_response(payload: Any) -> list[str]:
    """A message sent to a response_url."""
    if not isinstance(payload, dict):
        return ["the payload must be a JSON object"]
    spec = DESCRIPTIONS["response_url"]
    errors = [f"unknown field {k!r}" for k in payload if k not in spec["fields"]]
    if "response_type" in payload and payload["response_type"] not in spec["response_types"]:
        errors.append(f"response_type must be one of {spec['response_types']}")
    message = {k: v for k, v in payload.items() if k in ("text", "blocks", "thread_ts", "mrkdwn")}
    return errors + validate_slack(message) + validate_actions(message)


@dataclass
class Posted:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    errors: list[str]
    ts: str | None = None


@dataclass
class SlackFake:
    emails: dict[str, str] = field(default_factory=dict)  # user id -> profile e-mail, for users.info
    messages: list[Posted] = field(default_factory=list)  # webhook and chat.postMessage posts
    responses: list[Posted] = field(default_factory=list)  # posts to response_urls
    lookups: list[str] = field(default_factory=list)  # users.info user ids
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SlackFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def webhook(self) -> str:
        return self.base + "/services/T000/B000/XXXX"

    @property
    def post_message(self) -> str:
        return self.base + "/api/chat.postMessage"

    def wait(self, what: str, count: int, timeout: float = 15.0) -> list[Posted]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(getattr(self, what)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} {what} expected, got {len(getattr(self, what))}: "
                                         f"{[p.body for p in getattr(self, what)]}")
                self._lock.wait(left)
            return list(getattr(self, what))

    # --- a user clicking -------------------------------------------------------------------------

    def click_payload(self, approval: int, action: str, user: str, response_id: int) -> dict[str, Any]:
        """A block_actions payload for one button click, with every property the description requires."""
        action_id = {"approve": "imagebot.approve", "reject": "imagebot.reject"}[action]
        payload = {
            "type": "block_actions", "user": {"id": user, "username": user.lower(), "name": user.lower(),
                                              "team_id": "T000"},
            "api_app_id": "A000", "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C000", "is_ephemeral": False},
            "trigger_id": "123.456.abc", "team": {"id": "T000", "domain": "example"},
            "channel": {"id": "C000", "name": "deployments"}, "message": {"type": "message", "text": "…"},
            "response_url": f"{self.base}/actions/T000/{response_id}/token",
            "actions": [{"type": "button", "action_id": action_id, "block_id": f"imagebot-approval-{approval}",
                         "value": str(approval), "action_ts": f"{time.time():.6f}",
                         "text": {"type": "plain_text", "text": action.title()}}],
        }
        spec = DESCRIPTIONS["block_actions"]
        assert all(k in payload for k in spec["required"])
        assert all(k in payload["user"] for k in spec["user_required"])  # type: ignore[operator]
        assert all(k in payload["actions"][0] for k in spec["action_required"])  # type: ignore[index]
        return payload

    @staticmethod
    def signed(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(secret, f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
                "Content-Type": "application/x-www-form-urlencoded"}

    def click(self, url: str, secret: bytes, approval: int, action: str = "approve", user: str = "U0APPROVER",
              *, timestamp: int | None = None, headers: dict[str, str] | None = None,
              response_id: int = 1) -> tuple[httpx.Response, bytes, dict[str, str]]:
        """POST a signed click to imagebot's interaction route; the answer, the body and the headers sent."""
        body = urlencode({"payload": json.dumps(self.click_payload(approval, action, user, response_id))}).encode()
        sent = {**self.signed(secret, body, timestamp), **(headers or {})}
        return httpx.post(url, content=body, headers=sent, timeout=10, trust_env=False), body, sent

    # --- the server -----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/api/users.info" or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._answer(404, b"not found")
                    return
                user = parse_qs(parts.query).get("user", [""])[0]
                with fake._lock:
                    fake.lookups.append(user)
                email = fake.emails.get(user)
                data = {"ok": True, "user": {"id": user, "profile": {"email": email}}} if email else \
                    {"ok": False, "error": "user_not_found"}
                self._answer(200, json.dumps(data).encode(), "application/json")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                path = urlsplit(self.path).path
                headers = {k.lower(): v for k, v in self.headers.items()}
                if path.startswith("/actions/"):
                    posted = Posted(path, body, headers, validate_response(body))
                    with fake._lock:
                        fake.responses.append(posted)
                        fake._lock.notify_all()
                    self._answer(400 if posted.errors else 200, b"invalid_blocks" if posted.errors else b"ok")
                    return
                errors = validate_slack(body) + validate_actions(body)
                api = path == "/api/chat.postMessage"
                if api and headers.get("authorization") != f"Bearer {TOKEN}":
                    errors.append("chat.postMessage without the bot token")
                if not api and "thread_ts" in body:
                    errors.append("an incoming webhook cannot thread: thread_ts is a Web API field")
                posted = Posted(path, body, headers, errors, ts=f"1700000000.{next(fake._ts):06d}" if api else None)
                with fake._lock:
                    fake.messages.append(posted)
                    fake._lock.notify_all()
                if api:
                    answer = {"ok": not errors, "channel": "C000", "ts": posted.ts} if not errors else \
                        {"ok": False, "error": "invalid_blocks"}
                    self._answer(200, json.dumps(answer).encode(), "application/json")
                else:
                    self._answer(400 if errors else 200, b"invalid_blocks" if errors else b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
