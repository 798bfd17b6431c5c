"""A real webhook endpoint on 127.0.0.1 for notification tests.

It records every request, answers as scripted (status codes, Retry-After, delays, or never), and
checks each payload the way the real service would: Slack Block Kit's published limits, Teams'
Adaptive Card / MessageCard shapes, Discord's Slack-compatible endpoint and embed limits, Flux's
generic Event and its `X-Signature` HMAC. A payload that fails the check is answered 400 (Slack
answers `invalid_blocks` the same way) and its problems are kept in `Received.errors`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# --- validators: each returns a list of problems, empty when the payload is valid -------------------

SLACK_MESSAGE_BLOCKS = {
    "section",
    "header",
    "context",
    "divider",
    "actions",
    "image",
    "rich_text",
    "file",
    "video",
    "markdown",
}
SLACK_TOP_LEVEL = {
    "text",
    "blocks",
    "attachments",
    "thread_ts",
    "mrkdwn",
    "channel",
    "username",
    "icon_emoji",
    "icon_url",
    "unfurl_links",
    "unfurl_media",
    "metadata",
}
_SLACK_CONTROL = re.compile(
    r"<(?:https?://[^|<>\s]+|mailto:[^|<>\s]+|!date\^\d+\^[^|<>]*|[@#!][^|<>\s]+)"
    r"(?:\|[^<>]*)?>"
)
_SLACK_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def _text_object(obj: Any, where: str, *, limit: int = 3000, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: a text object must be an object"]
    errors = []
    kind = obj.get("type")
    if kind not in ("plain_text", "mrkdwn"):
        errors.append(f"{where}: text object type {kind!r} is neither plain_text nor mrkdwn")
    if plain_only and kind != "plain_text":
        errors.append(f"{where}: must be plain_text")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"{where}: text must be a non-empty string")
    elif len(text) > limit:
        errors.append(f"{where}: text is {len(text)} characters, the limit is {limit}")
    allowed = {"type", "text", "emoji"} if kind == "plain_text" else {"type", "text", "verbatim"}
    if extra := set(obj) - allowed:
        errors.append(f"{where}: fields {sorted(extra)} are not allowed on {kind}")
    if kind == "mrkdwn" and isinstance(text, str):
        stripped = _SLACK_CONTROL.sub("", text)
        if "<" in stripped:
            errors.append(f"{where}: unescaped '<' in mrkdwn (write &lt;)")
        if _SLACK_ENTITY.search(text):
            errors.append(f"{where}: unescaped '&' in mrkdwn (write &amp;)")
    return errors


def validate_slack(payload: Any) -> list[str]:
    """An incoming-webhook message per Slack's Block Kit reference."""
    if not isinstance(payload, dict):
        return ["the payload must be a JSON object"]
    errors = [f"unknown top-level field {k!r}" for k in payload if k not in SLACK_TOP_LEVEL]
    text = payload.get("text")
    blocks = payload.get("blocks")
    if blocks is not None and (not isinstance(text, str) or not text.strip()):
        errors.append("a message with blocks needs a plain `text` fallback for notifications")
    if blocks is None and not text and not payload.get("attachments"):
        errors.append("no_text: the message has neither text, blocks nor attachments")
    if isinstance(text, str):
        if len(text) > 40000:
            errors.append("text is longer than 40000 characters")
        elif text:  # top-level text is mrkdwn by default: same escaping rules
            errors += _text_object({"type": "mrkdwn", "text": text}, "text", limit=40000)
    if blocks is None:
        return errors
    if not isinstance(blocks, list) or not blocks:
        return [*errors, "blocks must be a non-empty array"]
    if len(blocks) > 50:
        errors.append(f"{len(blocks)} blocks; a message holds at most 50")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, dict):
            errors.append(f"{where}: must be an object")
            continue
        kind = block.get("type")
        if kind not in SLACK_MESSAGE_BLOCKS:
            errors.append(f"{where}: block type {kind!r} is not a message block")
        if "block_id" in block:
            bid = block["block_id"]
            if not isinstance(bid, str) or len(bid) > 255 or bid in block_ids:
                errors.append(f"{where}: block_id must be a unique string of at most 255 characters")
            block_ids.add(str(bid))
        if kind == "header":
            errors += _text_object(block.get("text"), f"{where}.text", limit=150, plain_only=True)
            errors += [f"{where}: unknown field {k!r}" for k in set(block) - {"type", "text", "block_id"}]
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"{where}: a section needs text or fields")
            if "text" in block:
                errors += _text_object(block["text"], f"{where}.text", limit=3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    errors.append(f"{where}.fields: 1 to 10 text objects")
                else:
                    for j, f in enumerate(fields):
                        errors += _text_object(f, f"{where}.fields[{j}]", limit=2000)
            allowed = {"type", "text", "fields", "accessory", "block_id", "expand"}
            errors += [f"{where}: unknown field {k!r}" for k in set(block) - allowed]
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                errors.append(f"{where}.elements: 1 to 10 elements")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") == "image":
                        if not el.get("image_url") or not el.get("alt_text"):
                            errors.append(f"{where}.elements[{j}]: an image needs image_url and alt_text")
                    else:
                        errors += _text_object(el, f"{where}.elements[{j}]")
        elif kind == "divider":
            errors += [f"{where}: unknown field {k!r}" for k in set(block) - {"type", "block_id"}]
    return errors


TEAMS_ELEMENTS = {"TextBlock", "FactSet", "Container", "ColumnSet", "Image", "RichTextBlock", "ActionSet"}


def _card_elements(items: Any, where: str) -> list[str]:
    if not isinstance(items, list):
        return [f"{where}: must be an array"]
    errors = []
    for i, el in enumerate(items):
        at = f"{where}[{i}]"
        kind = el.get("type") if isinstance(el, dict) else None
        if kind not in TEAMS_ELEMENTS:
            errors.append(f"{at}: element type {kind!r} is not an Adaptive Card element")
            continue
        if kind == "TextBlock":
            if not isinstance(el.get("text"), str) or not el["text"]:
                errors.append(f"{at}: TextBlock needs text")
            if el.get("color", "default") not in ("default", "dark", "light", "accent", "good", "warning", "attention"):
                errors.append(f"{at}: color {el.get('color')!r} is not an Adaptive Card color")
            if el.get("size", "default") not in ("default", "small", "medium", "large", "extraLarge"):
                errors.append(f"{at}: size {el.get('size')!r} is not an Adaptive Card size")
            if el.get("weight", "default") not in ("default", "lighter", "bolder"):
                errors.append(f"{at}: weight {el.get('weight')!r} is not an Adaptive Card weight")
        elif kind == "FactSet":
            facts = el.get("facts")
            if not isinstance(facts, list) or not facts:
                errors.append(f"{at}: FactSet needs facts")
            elif not all(
                isinstance(f, dict) and set(f) == {"title", "value"} and all(isinstance(v, str) for v in f.values())
                for f in facts
            ):
                errors.append(f"{at}: each fact is {{title, value}} strings")
        elif kind == "Container":
            errors += _card_elements(el.get("items"), f"{at}.items")
    return errors


def validate_msteams(payload: Any) -> list[str]:
    """An Adaptive Card in a `message` attachment (workflow webhooks), or a legacy MessageCard."""
    if not isinstance(payload, dict):
        return ["the payload must be a JSON object"]
    if len(json.dumps(payload).encode()) > 28 * 1024:
        return ["the payload is over Teams' 28 KB limit"]
    if payload.get("@type") == "MessageCard":
        errors = []
        if payload.get("@context") != "http://schema.org/extensions":
            errors.append("MessageCard @context must be http://schema.org/extensions")
        if not re.fullmatch(r"[0-9A-Fa-f]{6}", str(payload.get("themeColor", ""))):
            errors.append("themeColor must be a hex colour")
        if not payload.get("summary") and not payload.get("text"):
            errors.append("a MessageCard needs summary or text")
        for i, section in enumerate(payload.get("sections", [])):
            for f in section.get("facts", []):
                if set(f) != {"name", "value"}:
                    errors.append(f"sections[{i}]: each fact is {{name, value}}")
        return errors
    if payload.get("type") != "message":
        return ["type must be 'message'"]
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["attachments must hold exactly one card"]
    att = attachments[0]
    errors = []
    if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
        errors.append("contentType must be application/vnd.microsoft.card.adaptive")
    card = att.get("content") or {}
    if card.get("type") != "AdaptiveCard":
        errors.append("content.type must be AdaptiveCard")
    if card.get("version") not in ("1.0", "1.1", "1.2", "1.3", "1.4"):
        errors.append(f"version {card.get('version')!r}: Teams renders Adaptive Cards up to 1.4")
    errors += _card_elements(card.get("body"), "content.body")
    for i, action in enumerate(card.get("actions", [])):
        if action.get("type") != "Action.OpenUrl" or not str(action.get("url", "")).startswith("http"):
            errors.append(f"content.actions[{i}]: expected Action.OpenUrl with an http(s) url")
    return errors


def validate_discord(payload: Any, path: str) -> list[str]:
    """Discord's Slack-compatible endpoint (`.../slack`), within Discord's embed limits."""
    errors = [] if path.split("?")[0].endswith("/slack") else ["not posted to the Slack-compatible /slack path"]
    if not isinstance(payload, dict):
        return [*errors, "the payload must be a JSON object"]
    if len(str(payload.get("username", ""))) > 80:
        errors.append("username over 80 characters")
    if len(str(payload.get("text", ""))) > 2000:
        errors.append("text (content) over 2000 characters")
    attachments = payload.get("attachments", [])
    if not payload.get("text") and not attachments:
        errors.append("empty message: neither text nor attachments")
    if len(attachments) > 10:
        errors.append("more than 10 attachments (embeds)")
    total = 0
    for i, att in enumerate(attachments):
        at = f"attachments[{i}]"
        for key, limit in (("title", 256), ("author_name", 256), ("text", 4096), ("footer", 2048)):
            value = str(att.get(key, ""))
            total += len(value)
            if len(value) > limit:
                errors.append(f"{at}.{key}: {len(value)} characters, the limit is {limit}")
        fields = att.get("fields", [])
        if len(fields) > 25:
            errors.append(f"{at}.fields: {len(fields)} fields, the limit is 25")
        for j, f in enumerate(fields):
            title, value = str(f.get("title", "")), str(f.get("value", ""))
            total += len(title) + len(value)
            if not title or not value:
                errors.append(f"{at}.fields[{j}]: name and value must not be empty")
            if len(title) > 256 or len(value) > 1024:
                errors.append(f"{at}.fields[{j}]: name over 256 or value over 1024 characters")
    if total > 6000:
        errors.append(f"embeds hold {total} characters, the limit is 6000")
    return errors


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def validate_generic(payload: Any, headers: dict[str, str]) -> list[str]:
    """Flux's Event JSON, as Flux's generic provider posts it."""
    errors = []
    if "application/json" not in headers.get("content-type", ""):
        errors.append("Content-Type is not application/json")
    if not headers.get("gotk-component"):
        errors.append("missing Gotk-Component header")
    if not isinstance(payload, dict):
        return [*errors, "the payload must be a JSON object"]
    obj = payload.get("involvedObject")
    if not isinstance(obj, dict) or not all(
        isinstance(obj.get(k), str) and obj[k] for k in ("kind", "namespace", "name")
    ):
        errors.append("involvedObject needs kind, namespace and name")
    if payload.get("severity") not in ("info", "error"):
        errors.append("severity must be info or error")
    if not _RFC3339.fullmatch(str(payload.get("timestamp", ""))):
        errors.append("timestamp is not RFC 3339")
    for key in ("message", "reason", "reportingController"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            errors.append(f"{key} must be a non-empty string")
    metadata = payload.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        errors.append("metadata must map strings to strings")
    return errors


def verify_signature(signature: str, body: bytes, key: bytes) -> list[str]:
    """Flux's documented receiver-side check of `X-Signature: <hash>=<hex hmac>`."""
    algorithm, sep, digest = signature.partition("=")
    functions = {"sha224": hashlib.sha224, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
    if not sep or algorithm not in functions:
        return [f"invalid X-Signature {signature!r}"]
    expected = hmac.new(key, body, functions[algorithm]).hexdigest()
    return [] if hmac.compare_digest(expected, digest) else ["X-Signature does not match the body"]


# --- the server -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False  # never answer (until the receiver stops)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    errors: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """`kind` picks the validator: slack, msteams, discord, generic, generic-hmac (with `hmac_key`)."""

    def __init__(self, kind: str | None = None, *, hmac_key: bytes | None = None) -> None:
        self.kind = kind
        self.hmac_key = hmac_key
        self.requests: list[Received] = []
        self.default = Reply()
        self._script: deque[Reply] = deque()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="webhook-receiver", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def script(self, *replies: Reply | int) -> None:
        """Answer the next requests with these replies (a bare int is a status), then `default`."""
        self._script.extend(Reply(status=r) if isinstance(r, int) else r for r in replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def validate(self, received: Received) -> list[str]:
        try:
            payload = received.json()
        except ValueError:
            return ["the body is not JSON"]
        match self.kind:
            case "slack":
                return validate_slack(payload)
            case "msteams":
                return validate_msteams(payload)
            case "discord":
                return validate_discord(payload, received.path)
            case "generic":
                return validate_generic(payload, received.headers)
            case "generic-hmac":
                errors = validate_generic(payload, received.headers)
                signature = received.headers.get("x-signature")
                if signature is None:
                    return [*errors, "missing X-Signature header"]
                return errors + verify_signature(signature, received.body, self.hmac_key or b"")
        return []

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                received.errors = receiver.validate(received)
                reply = receiver._script.popleft() if receiver._script else receiver.default
                with receiver._changed:
                    receiver.requests.append(received)
                    receiver._changed.notify_all()
                if reply.hang:
                    receiver._stopping.wait()
                    self.close_connection = True
                    return
                if reply.delay:
                    receiver._stopping.wait(reply.delay)
                status, text = reply.status, reply.body
                if received.errors and status < 300:
                    status, text = 400, "invalid_payload: " + "; ".join(received.errors)
                data = text.encode()
                self.send_response(status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if not any(name.lower() == "content-type" for name in reply.headers):
                    self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[..., WebhookReceiver]]:
    """A factory: `webhook_receiver("slack")` starts a receiver that is stopped after the test."""
    started: list[WebhookReceiver] = []

    def start(kind: str | None = None, **kwargs: Any) -> WebhookReceiver:
        receiver = WebhookReceiver(kind, **kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
