"""One registry call's state (which repository, its host's limits, its deadline) and what its answers mean:
the RegistryError a status stands for, with what to check, and the request hooks that count answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import httpx

from imagebot.registry._auth import RegistryAuth, parse_challenge
from imagebot.registry._errors import AuthError, InvalidResponse, NotFound, RegistryError, RegistryUnavailable
from imagebot.registry._failures import error_detail, proxy_refused
from imagebot.registry._options import AccessOptions
from imagebot.registry._parse import ParseError
from imagebot.registry._stats import RequestStats
from imagebot.registry.credentials import Credentials, DockerConfig
from imagebot.registry.reference import DOCKER_HUB, ImageReference

_T = TypeVar("_T")
CALL = "imagebot.registry_call"  # request extension: the Call a request belongs to


@dataclass
class Host:
    """Per-host limits and the 429 state shared by every call to that host."""

    slots: asyncio.Semaphore
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    throttled_since: float | None = None
    resume_at: float = 0.0
    strikes: int = 0
    skipped: str | None = None


@dataclass
class Call:
    """One public call: which repository, how to reach it, and the names used in messages."""

    ref: ImageReference
    options: AccessOptions
    http: httpx.AsyncClient
    credentials: Credentials | None
    host: Host
    deadline: float
    stats: RequestStats
    auth: RegistryAuth | None = None
    doing: str = ""  # what the call was waiting for, for the message when spec.timeout runs out
    paging: str = ""  # how far a tag listing had come: a loop of page links says more than the last request
    retried: str = ""  # why the last retried request stopped being retried (Attempts.stop_reason)

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def base(self) -> str:
        scheme = "http" if self.options.insecure else "https"
        return f"{scheme}://{self.ref.api_host}/v2/{self.ref.repository}"

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())


def parsed(call: Call, parse: Callable[..., _T], *args: Any) -> _T:
    """What `parse` makes of a registry's answer; a ParseError is an InvalidResponse of this call."""
    try:
        return parse(*args)
    except ParseError as exc:
        fail(InvalidResponse, call, str(exc))


def raise_for_status(call: Call, response: httpx.Response, what: str, config: DockerConfig | None) -> NoReturn:
    """The RegistryError an answer that is not 2xx stands for, with what to do about it."""
    status = response.status_code
    detail = error_detail(response)
    if status == 407:  # a proxy's answer to a plain-http request (https ones fail at CONNECT)
        fail(AuthError, call, proxy_refused(call.options, call.ref.api_host))
    if status == 401:
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        if challenge is not None and challenge.error == "insufficient_scope":
            fail(AuthError, call, f"access denied (401 insufficient_scope){detail}: the repository may not exist, "
                 f"or {credentials_hint(call, config, lacking=True)}")
        if call.credentials is None:
            fail(AuthError, call, f"authentication required (401){detail} — {credentials_hint(call, config)}")
        fail(AuthError, call, f"authentication failed (401){detail} — {credentials_hint(call, config)}")
    if status == 403:
        fail(AuthError, call, f"access denied (403){detail} — {credentials_hint(call, config, lacking=True)}")
    if status == 404:
        hint = " — check spec.image" if what == "repository" else ""
        fail(NotFound, call, f"{what} not found (404){detail}{hint}")
    if status >= 500:
        retried = call.retried and (f" {call.retried}" if call.retried.startswith("after") else f"; {call.retried}")
        fail(RegistryUnavailable, call, f"the registry answered {status}{retried}{detail} — it is failing; "
             "try again later")
    if status == 400 and "HTTP request to an HTTPS server" in response.text:
        fail(RegistryError, call, f"{call.ref.api_host} speaks https, but spec.insecure: true made us use plain "
             "http — remove spec.insecure")
    fail(RegistryError, call, f"unexpected answer {status} to {response.request.method} "
         f"{response.request.url.path}{detail}")


def credentials_hint(call: Call, config: DockerConfig | None, lacking: bool = False) -> str:
    """What to check about credentials; `config`: the docker config of the ImageRepository's secretRef."""
    credentials = call.credentials
    if credentials is None:
        host = "docker.io" if call.ref.registry == DOCKER_HUB else call.ref.registry
        if config is not None:  # a secretRef is set, without an entry for this host: say what it has
            hosts = ", ".join(sorted(config.auths)) or "no hosts"
            return f"the registry wants credentials, and {config.source} has none for {host}: it has {hosts}"
        return (f"the registry wants credentials: set spec.secretRef to a docker config secret with "
                f"credentials for {host}")
    if lacking:
        return f"the credentials from {credentials.source} lack pull access to it"
    return f"check the credentials in {credentials.source}"


def fail(kind: type[RegistryError], call: Call, message: str) -> NoReturn:
    raise kind(f"{call.name}: {message}", repository=call.name, host=call.ref.api_host)


async def count_response(response: httpx.Response) -> None:
    call = response.request.extensions.get(CALL)
    if not isinstance(call, Call):
        return  # every request is sent by _send, which names its call
    # For the message if spec.timeout runs out while the body is read (_send restores it after).
    if response.is_success:
        call.doing = (f"{response.request.url.netloc.decode()} answered {response.status_code} to "
                      f"{response.request.method} {response.request.url.path[:200]} but was still sending "
                      "the body")
    sent = response.request.extensions.get("imagebot_sent")
    seconds = time.monotonic() - sent if sent is not None else None
    # The call's own client counts it: clients sharing a pool share the httpx client, not their figures.
    call.stats.record_response(response.request.url.netloc.decode(), response.status_code, seconds)


async def stamp_request(request: httpx.Request) -> None:
    request.extensions["imagebot_sent"] = time.monotonic()  # for the request-duration metric
