"""Slack's interaction callbacks (a click on Approve or Reject), at `POST /slack/interactions`.

Slack posts `application/x-www-form-urlencoded` with one field, `payload`, a JSON `block_actions`
document. The request is verified (signature.py) against the signing secret of every Slack Provider
(key `signingSecret` of its secret) and refused when replayed; the clicking user must be one of the
automation's `spec.approval.approvers`, by Slack user ID, or by e-mail when the Provider has a bot
`token` to ask `users.info` with. Slack wants an answer within three seconds: the decision is
recorded and answered 200 at once; the message is then replaced through the payload's
`response_url` (accepted only on hooks.slack.com or the Provider's own address's host).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response

from imagebot.approval._store import Approval, ApprovalError
from imagebot.approval.blocks import decided_message, ephemeral
from imagebot.approval.decide import clean_who
from imagebot.approval.signature import MAX_AGE, SignatureError, verify
from imagebot.notify.slack import APPROVE_ACTION, REJECT_ACTION

if TYPE_CHECKING:
    from imagebot.config import Config, SecretStore
    from imagebot.store import Store

log = logging.getLogger("imagebot.approval")

PATH = "/slack/interactions"
SIGNING_SECRET_KEY = "signingSecret"
MAX_BODY = 256 * 1024  # a block_actions payload carries the whole message: up to 50 blocks of 3000 characters
MAX_FIELDS = 8
SLACK_HOOKS = "https://hooks.slack.com/"
ANSWER_TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024
_USER_ID = re.compile(r"[A-Z0-9]{2,32}")


@dataclass(frozen=True)
class SlackApp:
    """A Slack Provider that can take interactions: its signing secret, and its bot token if any."""

    provider: str
    signing_secret: bytes = field(repr=False)
    address: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def api_base(self) -> str:
        """Where users.info is: beside chat.postMessage when the address is a Web API method."""
        parts = urlsplit(self.address)
        if parts.path.startswith("/api/"):
            return f"{parts.scheme}://{parts.netloc}/api"
        return "https://slack.com/api"


def slack_apps(config: Config, secrets: SecretStore) -> list[SlackApp]:
    apps = []
    for provider in config.providers:
        ref = provider.spec.secret_ref
        if provider.spec.type != "slack" or ref is None or not secrets.has(ref.name, SIGNING_SECRET_KEY):
            continue
        address = secrets.read_text(ref.name, "address") if secrets.has(ref.name, "address") else ""
        token = secrets.read_text(ref.name, "token") if secrets.has(ref.name, "token") else None
        apps.append(SlackApp(f"{provider.metadata.namespace}/{provider.metadata.name}",
                             secrets.read(ref.name, SIGNING_SECRET_KEY).strip(), address or provider.spec.address or "",
                             token))
    return apps


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Click:
    user: str
    user_name: str
    decision: str  # approved | rejected
    approval: int
    response_url: str


def parse_click(body: bytes) -> Click:
    """The one button click of a block_actions payload; Refused(400) for anything else."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=MAX_FIELDS)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        raise Refused(400, "expected a form with a JSON `payload` field") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise Refused(400, "only block_actions payloads are handled")
    user, actions, url = payload.get("user"), payload.get("actions"), payload.get("response_url")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not isinstance(url, str):
        raise Refused(400, "the payload has no user.id or response_url")
    if not _USER_ID.fullmatch(user["id"]):
        raise Refused(400, "user.id is not a Slack user ID")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise Refused(400, "expected exactly one action")
    action = actions[0]
    decision = {APPROVE_ACTION: "approved", REJECT_ACTION: "rejected"}.get(str(action.get("action_id")))
    value = action.get("value")
    if decision is None or not isinstance(value, str) or not value.isdigit() or len(value) > 12:
        raise Refused(400, "not an imagebot approval button")
    name = user.get("username") or user.get("name") or ""
    return Click(user["id"], str(name)[:64], decision, int(value), url[:2048])


class SlackInteractions:
    """The route's handler. `context()` gives the config and secrets in force; `on_approved(request)` runs
    the automation of an approved request (it recomputes and commits only what was approved)."""

    def __init__(self, store: Store, context: Callable[[], tuple[Config, SecretStore]],
                 on_approved: Callable[[Approval], None], *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.context = context
        self.on_approved = on_approved
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response("method not allowed\n", 405, {"Allow": "POST"}, media_type="text/plain")
        try:
            answer = await self._handle(request)
        except Refused as refusal:
            log.warning("slack interaction refused: %s", refusal)
            return Response(f"{refusal}\n", refusal.status, media_type="text/plain")
        return Response(answer, 200, media_type="text/plain")

    async def _handle(self, request: Request) -> str:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise Refused(415, "expected application/x-www-form-urlencoded")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            raise Refused(413, f"request body over {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise Refused(413, f"request body over {MAX_BODY} bytes")
        config, secrets = self.context()
        apps = slack_apps(config, secrets)
        if not apps:
            raise Refused(404, f"no Slack Provider has a `{SIGNING_SECRET_KEY}` key in its secret")
        now = self.clock()
        signature = request.headers.get("x-slack-signature")
        try:
            app = apps[verify([a.signing_secret for a in apps], request.headers.get("x-slack-request-timestamp"),
                              signature, body, now)]
        except SignatureError as err:
            raise Refused(401, str(err)) from None
        assert signature is not None
        if not self.store.first_use_of_signature(signature, now, keep=2 * MAX_AGE):
            raise Refused(401, "replayed request: this signature was seen before")
        click = parse_click(body)
        if not _response_url_allowed(click.response_url, app):
            raise Refused(400, "response_url is neither on hooks.slack.com nor on the Provider's host")
        self._spawn(self._decide(config, app, click))
        return ""

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait for the decisions in progress (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _decide(self, config: Config, app: SlackApp, click: Click) -> None:
        approval = self.store.approval(click.approval)
        automation = config.find("ImageUpdateAutomation", approval.automation) if approval else None
        if approval is None or automation is None or automation.spec.approval is None:
            await self._answer(app, click.response_url, ephemeral(f"Approval #{click.approval} is not known here."))
            return
        if not await self._may_approve(app, click.user, automation.spec.approval.approvers):
            log.warning("slack user %s is not an approver of %s", click.user, approval.automation)
            by_mail = "" if app.token or not any("@" in a for a in automation.spec.approval.approvers) else \
                " E-mail approvers are recognised only when the Provider's secret has the bot `token`."
            await self._answer(app, click.response_url, ephemeral(
                f"You are not an approver of {approval.automation} (spec.approval.approvers).{by_mail}"))
            return
        who = clean_who(f"slack:{click.user}" + (f" ({click.user_name})" if click.user_name else ""))
        try:
            decided = self.store.decide_approval(click.approval, click.decision, who, "slack",  # type: ignore[arg-type]
                                                 at=self.clock())
        except ApprovalError as err:
            current = self.store.approval(click.approval)
            await self._answer(app, click.response_url, decided_message(current, str(err)) if current
                               else ephemeral(str(err)))
            return
        log.info("approval #%d %s by %s", decided.id, decided.state, who, extra={"automation": decided.automation})
        await self._answer(app, click.response_url, decided_message(decided, _outcome_line(decided, click.user)))
        if decided.state == "approved":
            self.on_approved(decided)

    async def _may_approve(self, app: SlackApp, user: str, approvers: list[str]) -> bool:
        if user in approvers:
            return True
        emails = {a.lower() for a in approvers if "@" in a}
        if not emails or not app.token:
            return False
        email = await self._email_of(app, user)
        return email is not None and email.lower() in emails

    async def _email_of(self, app: SlackApp, user: str) -> str | None:
        """users.info (scope users:read.email): the user's profile e-mail, or None."""
        try:
            async with httpx.AsyncClient(timeout=ANSWER_TIMEOUT, follow_redirects=False) as client:
                response = await client.get(f"{app.api_base}/users.info", params={"user": user},
                                            headers={"Authorization": f"Bearer {app.token}"})
            if len(response.content) > MAX_ANSWER:
                return None
            data = response.json()
        except (httpx.HTTPError, ValueError) as err:
            log.warning("slack users.info for %s failed: %s", user, type(err).__name__)
            return None
        profile = data.get("user", {}).get("profile", {}) if isinstance(data, dict) and data.get("ok") else {}
        email = profile.get("email") if isinstance(profile, dict) else None
        return email if isinstance(email, str) else None

    async def _answer(self, app: SlackApp, url: str, message: dict[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(timeout=ANSWER_TIMEOUT, follow_redirects=False) as client:
                response = await client.post(url, json=message)
            if response.status_code >= 300:
                log.warning("slack response_url answered HTTP %d", response.status_code)
        except httpx.HTTPError as err:
            log.warning("slack response_url failed: %s", type(err).__name__)


def _response_url_allowed(url: str, app: SlackApp) -> bool:
    if url.startswith(SLACK_HOOKS):
        return True
    mine, theirs = urlsplit(app.address), urlsplit(url)
    return bool(mine.netloc) and (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)


def _outcome_line(approval: Approval, user: str) -> str:
    if approval.state == "approved":
        return f"✅ Approved by <@{user}>: committing on the automation's run now"
    return f"🚫 Rejected by <@{user}>: nothing will be committed"
