"""The Distribution API client: tag lists, manifest digests and image creation times.

One RegistryClient serves one scan cycle. It limits requests per registry host, retries
connection failures, timeouts, 5xx and 429 with backoff (honouring Retry-After), and gives up on
a host that keeps answering 429: every later call for that host fails at once without a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import httpx

from imagebot.registry._auth import Challenge, RegistryAuth, TokenCache, basic_header, parse_challenge
from imagebot.registry._errors import (
    AuthError,
    InvalidResponse,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryUnavailable,
)
from imagebot.registry._failures import describe_transport_error, error_detail
from imagebot.registry._media import INDEX_TYPES, MANIFEST_ACCEPT, parse_created, pick_platform
from imagebot.registry._options import AccessOptions
from imagebot.registry._retry import RETRYABLE_STATUS, Backoff, parse_retry_after
from imagebot.registry._stats import RequestStats
from imagebot.registry._tls import TLSMaterialError, build_ssl_context
from imagebot.registry.credentials import (
    CredentialLookupError,
    Credentials,
    DockerConfig,
    load_docker_config,
)
from imagebot.registry.reference import DOCKER_HUB, ImageReference, is_valid_tag

logger = logging.getLogger("imagebot.registry")

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^,;]+)*)')
_MAX_DOCUMENT = 8 * 1024 * 1024  # manifests and configs are small; refuse absurd answers
_MAX_RETRY_AFTER = 60.0  # a host asking for a longer pause is skipped for this cycle at once


@dataclass
class _Host:
    """Per-host limits and the 429 state shared by every call to that host."""

    slots: asyncio.Semaphore
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    throttled_since: float | None = None
    resume_at: float = 0.0
    strikes: int = 0
    skipped: str | None = None


@dataclass
class _Call:
    """One public call: which repository, how to reach it, and the names used in messages."""

    ref: ImageReference
    options: AccessOptions
    http: httpx.AsyncClient
    credentials: Credentials | None
    host: _Host
    deadline: float
    auth: RegistryAuth | None = None

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def base(self) -> str:
        scheme = "http" if self.options.insecure else "https"
        return f"{scheme}://{self.ref.api_host}/v2/{self.ref.repository}"

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())


class RegistryClient:
    """Reads tags, digests and creation times from OCI registries; use `async with`, one per cycle."""

    def __init__(self, concurrency_per_host: int = 8, max_pages: int = 1000, retries: int = 4,
                 ca_file: Path | None = None, docker_config_dir: Path | None = None,
                 backoff: Backoff | None = None) -> None:
        self.stats = RequestStats()
        self._concurrency = concurrency_per_host
        self._max_pages = max_pages
        self._retries = retries
        self._ca_file = ca_file
        self._docker_config_dir = docker_config_dir
        self._backoff = backoff or Backoff()
        self._hosts: dict[str, _Host] = {}
        self._http: dict[tuple[bytes | None, ...], httpx.AsyncClient] = {}
        self._tokens = TokenCache()
        self._configs: dict[bytes, DockerConfig] = {}
        self._user_config: DockerConfig | bool | None = False  # False: not read yet
        self._credentials: dict[tuple[bytes | None, str], Credentials | None] = {}
        self._credential_locks: dict[tuple[bytes | None, str], asyncio.Lock] = {}
        self._created: dict[str, datetime | None] = {}

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._http.values():
            await client.aclose()
        self._http.clear()

    # ---- public operations -------------------------------------------------------------------

    async def list_tags(self, ref: ImageReference, options: AccessOptions | None = None) -> list[str]:
        """Every tag of the repository, following `Link: <...>; rel="next"` pages on the same host."""
        async with self._call(ref, options) as call:
            url: str | None = f"{call.base}/tags/list"
            tags: dict[str, None] = {}  # ordered set
            visited: set[str] = set()
            pages = 0
            while url is not None:
                if url in visited:
                    logger.warning("%s: the registry's tag pages link back to a page already read; "
                                   "stopping with %d tags", call.name, len(tags))
                    break
                if pages >= self._max_pages:
                    self._fail(InvalidResponse, call, f"more than {self._max_pages} pages of tags; stopped "
                               "(raise the page limit if this repository really has that many tags)")
                visited.add(url)
                pages += 1
                response = await self._fetch(call, "GET", url, what="repository")
                page_tags = self._tags_of(call, response)
                before = len(tags)
                tags.update(dict.fromkeys(page_tags))
                url = self._next_page(call, response)
                if url is not None and len(tags) == before:
                    logger.warning("%s: a page of tags added nothing new but links to another; "
                                   "stopping with %d tags", call.name, len(tags))
                    break
            return list(tags)

    async def head_digest(self, ref: ImageReference, tag: str, options: AccessOptions | None = None) -> str:
        """The digest of the manifest (or index, for a multi-arch image) that `tag` points to."""
        async with self._call(ref, options, tag) as call:
            url = f"{call.base}/manifests/{tag}"
            headers = {"Accept": MANIFEST_ACCEPT}
            response = await self._fetch(call, "HEAD", url, headers=headers, what=f"tag {tag!r}")
            digest = response.headers.get("Docker-Content-Digest", "").strip()
            if not digest:
                # Some registries leave the header off HEAD answers: the digest of the body is the same.
                response = await self._fetch(call, "GET", url, headers=headers, what=f"tag {tag!r}")
                digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
            if not _DIGEST.fullmatch(digest):
                self._fail(InvalidResponse, call, f"tag {tag!r}: the registry sent an invalid digest "
                           f"{digest[:80]!r}")
            return digest

    async def created(self, ref: ImageReference, tag: str,
                      options: AccessOptions | None = None) -> datetime | None:
        """When the image `tag` points to was built (its config's `created`), or None if not recorded.

        For a multi-arch image this is the linux/amd64 image's time (else the first platform's).
        """
        async with self._call(ref, options, tag) as call:
            manifest = await self._manifest(call, tag, f"tag {tag!r}")
            if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
                child = pick_platform(manifest.get("manifests") or [])
                if child is None:
                    self._fail(InvalidResponse, call, f"tag {tag!r}: the image index lists no manifests")
                manifest = await self._manifest(call, child, f"tag {tag!r} (platform manifest {child})")
            config = manifest.get("config")
            digest = config.get("digest") if isinstance(config, dict) else None
            if not isinstance(digest, str) or not digest:
                return None  # schema1 or an artifact without a config: no creation time to read
            if digest not in self._created:
                response = await self._fetch(call, "GET", f"{call.base}/blobs/{digest}",
                                             what=f"config blob of tag {tag!r}", follow_redirects=True)
                document = self._json(call, response, f"config blob of tag {tag!r}")
                self._created[digest] = parse_created(document.get("created"))
            return self._created[digest]

    # ---- one call's context ------------------------------------------------------------------

    @asynccontextmanager
    async def _call(self, ref: ImageReference, options: AccessOptions | None,
                    tag: str | None = None) -> AsyncIterator[_Call]:
        options = options or AccessOptions()
        if tag is not None and not is_valid_tag(tag):
            raise RegistryError(f"{ref.name}: {tag[:130]!r} is not a valid tag", repository=ref.name,
                                host=ref.api_host)
        host = self._host(ref.api_host)
        if host.skipped:
            raise RateLimited(f"{ref.name}: {host.skipped}", repository=ref.name, host=ref.api_host)
        try:
            async with asyncio.timeout(options.timeout):
                credentials = await self._credentials_for(ref, options)
                call = _Call(ref, options, self._client_for(ref, options), credentials, host,
                             time.monotonic() + options.timeout)
                call.auth = RegistryAuth(ref.api_host, f"repository:{ref.repository}:pull", credentials,
                                         self._tokens, lambda c, s, cr: self._fetch_token(call, c, s, cr))
                yield call
        except TimeoutError:
            raise RegistryUnavailable(
                f"{ref.name}: no answer from {ref.api_host} within {options.timeout:g}s (spec.timeout) — "
                "check that the registry is up and reachable, or raise spec.timeout",
                repository=ref.name, host=ref.api_host) from None

    def _host(self, name: str) -> _Host:
        if name not in self._hosts:
            self._hosts[name] = _Host(asyncio.Semaphore(self._concurrency))
        return self._hosts[name]

    def _client_for(self, ref: ImageReference, options: AccessOptions) -> httpx.AsyncClient:
        key = (options.ca_pem, options.cert_pem, options.key_pem)
        if key not in self._http:
            try:
                context = build_ssl_context(ca_pem=options.ca_pem, ca_file=self._ca_file,
                                            cert_pem=options.cert_pem, key_pem=options.key_pem)
            except TLSMaterialError as exc:
                where = f" in secret {options.cert_secret_name!r}" if options.cert_secret_name else ""
                raise RegistryError(f"{ref.name}: {exc}{where}", repository=ref.name,
                                    host=ref.api_host) from None
            self._http[key] = httpx.AsyncClient(
                verify=context, timeout=options.timeout,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=4 * self._concurrency),
                event_hooks={"request": [_stamp_request], "response": [self._count_response]},
                headers={"User-Agent": "imagebot"},
            )
        return self._http[key]

    async def _count_response(self, response: httpx.Response) -> None:
        sent = response.request.extensions.get("imagebot_sent")
        seconds = time.monotonic() - sent if sent is not None else None
        self.stats.record_response(response.request.url.netloc.decode(), response.status_code, seconds)

    # ---- credentials ------------------------------------------------------------------------

    async def _credentials_for(self, ref: ImageReference, options: AccessOptions) -> Credentials | None:
        key = (options.credentials_config, ref.registry)
        async with self._credential_locks.setdefault(key, asyncio.Lock()):
            if key not in self._credentials:
                try:
                    self._credentials[key] = await self._lookup(ref, options)
                except CredentialLookupError as exc:
                    raise AuthError(f"{ref.name}: cannot get credentials: {exc}", repository=ref.name,
                                    host=ref.api_host) from None
            return self._credentials[key]

    async def _lookup(self, ref: ImageReference, options: AccessOptions) -> Credentials | None:
        if options.credentials_config:
            data = options.credentials_config
            if data not in self._configs:
                source = (f"secret {options.secret_name!r} (.dockerconfigjson)" if options.secret_name
                          else "the ImageRepository's docker config")
                self._configs[data] = DockerConfig.parse(data, source)
            found = await self._configs[data].lookup(ref.registry)
            if found is not None:
                return found
        if self._user_config is False:
            self._user_config = load_docker_config(self._docker_config_dir)
        if isinstance(self._user_config, DockerConfig):
            return await self._user_config.lookup(ref.registry)
        return None

    # ---- requests ----------------------------------------------------------------------------

    async def _fetch(self, call: _Call, method: str, url: str, *, what: str,
                     headers: dict[str, str] | None = None, follow_redirects: bool = False) -> httpx.Response:
        """Send with auth, limits and retries; return a 2xx answer or raise the matching RegistryError."""
        response = await self._send(call, method, url, headers=headers or {}, auth=call.auth,
                                    follow_redirects=follow_redirects)
        if response.status_code < 300:
            return response
        self._raise_for_status(call, response, what)

    async def _send(self, call: _Call, method: str, url: str, *, headers: dict[str, str],
                    auth: httpx.Auth | None, follow_redirects: bool = False, limited: bool = True,
                    data: dict[str, str] | None = None) -> httpx.Response:
        host = call.host
        attempt = 0
        while True:
            self._check_skipped(call)
            async with self._slot(host, limited):
                self._check_skipped(call)
                pause = host.resume_at - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                    self._check_skipped(call)
                sent_at = time.monotonic()
                try:
                    response = await call.http.request(
                        method, url, headers=headers, auth=auth, data=data,
                        follow_redirects=follow_redirects, timeout=call.remaining())
                    await response.aread()
                except (httpx.TransportError, ssl.SSLError) as exc:
                    # ssl errors after the handshake (a refused client certificate) escape httpx unwrapped.
                    self.stats.record_transport_error(httpx.URL(url).netloc.decode())
                    failure = describe_transport_error(exc, call.ref.api_host, call.options)
                    if failure.final or attempt >= self._retries:
                        suffix = f" (after {attempt} retries)" if attempt else ""
                        raise RegistryUnavailable(f"{call.name}: {failure.message}{suffix}",
                                                  repository=call.name, host=call.ref.api_host) from None
                    response = None
            if response is None:
                delay = self._backoff.delay(attempt)
                logger.debug("%s: %s failed (%s); retry %d in %.2fs", call.name, method, failure.message,
                             attempt + 1, delay)
            elif response.status_code == 429:
                self._on_rate_limited(call, sent_at, response)
                continue  # the host's own schedule (resume_at) decides when to try again
            else:
                if host.throttled_since is not None and sent_at >= host.throttled_since:
                    host.throttled_since, host.strikes = None, 0
                if response.status_code not in RETRYABLE_STATUS or attempt >= self._retries:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After")) or 0.0
                delay = max(min(retry_after, _MAX_RETRY_AFTER), self._backoff.delay(attempt))
                logger.debug("%s: %s answered %d; retry %d in %.2fs", call.name, method,
                             response.status_code, attempt + 1, delay)
            attempt += 1
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def _slot(self, host: _Host, limited: bool) -> AsyncIterator[None]:
        if not limited:  # token requests, made while a registry request holds a slot
            yield
            return
        if host.throttled_since is None:
            await host.slots.acquire()
            try:
                if host.throttled_since is None:
                    yield
                    return
            finally:
                host.slots.release()
        async with host.gate, host.slots:  # a throttling host gets one request at a time
            yield

    def _on_rate_limited(self, call: _Call, sent_at: float, response: httpx.Response) -> None:
        host, now = call.host, time.monotonic()
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if host.throttled_since is None:
            host.throttled_since, host.strikes = now, 1
        elif sent_at >= host.throttled_since:
            host.strikes += 1  # requests already in flight when the first 429 came don't count
        if retry_after is not None and retry_after > _MAX_RETRY_AFTER:
            self._skip_host(call, f"asks to wait {retry_after:.0f}s (Retry-After)")
        if host.strikes > self._retries:
            self._skip_host(call, f"after {self._retries} retries")
        delay = retry_after if retry_after is not None else self._backoff.delay(host.strikes - 1)
        host.resume_at = max(host.resume_at, now + delay)
        logger.debug("%s: %s answered 429; waiting %.2fs", call.name, call.ref.api_host, delay)

    def _skip_host(self, call: _Call, why: str) -> NoReturn:
        host = call.host
        if host.skipped is None:
            host.skipped = (f"registry {call.ref.api_host} is rate limiting requests (429, {why}); it is "
                            "skipped for the rest of this scan cycle — scan less often, or use credentials "
                            "with a higher rate limit")
            logger.warning("%s", host.skipped)
        self._check_skipped(call)
        raise AssertionError("unreachable")

    def _check_skipped(self, call: _Call) -> None:
        if call.host.skipped:
            raise RateLimited(f"{call.name}: {call.host.skipped}", repository=call.name, host=call.ref.api_host)

    # ---- tokens -------------------------------------------------------------------------------

    async def _fetch_token(self, call: _Call, challenge: Challenge, scope: str,
                           credentials: Credentials | None) -> tuple[str, float]:
        realm = httpx.URL(challenge.realm) if challenge.realm else None
        if realm is None or realm.scheme not in ("http", "https") or not realm.host:
            self._fail(InvalidResponse, call, f"the registry's bearer challenge has no usable realm "
                       f"({challenge.realm[:100]!r})")
        if realm.scheme == "http" and credentials is not None and not call.options.insecure:
            self._fail(AuthError, call, f"refusing to send credentials to the plain-http token server "
                       f"{realm.host} — use https, or set spec.insecure: true if this is intended")
        params = {"service": challenge.service} if challenge.service else {}
        headers: dict[str, str] = {}
        data = None
        if credentials is not None and credentials.identity_token:
            # OAuth2 refresh-token grant, as docker does with an identity token.
            data = {**params, "grant_type": "refresh_token", "refresh_token": credentials.identity_token,
                    "client_id": "imagebot", "scope": scope}
            response = await self._send(call, "POST", str(realm), headers=headers, auth=None,
                                        limited=False, data=data)
        else:
            if credentials is not None:
                headers["Authorization"] = basic_header(credentials)
            url = realm.copy_merge_params({**params, "scope": scope})
            response = await self._send(call, "GET", str(url), headers=headers, auth=None, limited=False)
        if response.status_code in (401, 403):
            self._fail(AuthError, call, f"the token server {realm.host} refused "
                       f"{'the credentials' if credentials else 'an anonymous token'} "
                       f"({response.status_code}) — {self._credentials_hint(call)}")
        if response.status_code >= 300:
            self._fail(RegistryUnavailable, call, f"the token server {realm.host} answered "
                       f"{response.status_code} — try again later")
        document = self._json(call, response, f"token from {realm.host}")
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            self._fail(InvalidResponse, call, f"the token server {realm.host} answered without a token")
        lifetime = document.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 60.0

    # ---- answers ------------------------------------------------------------------------------

    async def _manifest(self, call: _Call, reference: str, what: str) -> dict[str, Any]:
        response = await self._fetch(call, "GET", f"{call.base}/manifests/{reference}",
                                     headers={"Accept": MANIFEST_ACCEPT}, what=what)
        document = self._json(call, response, f"manifest of {what}")
        if "mediaType" not in document and response.headers.get("Content-Type"):
            document["mediaType"] = response.headers["Content-Type"].split(";")[0].strip()
        return document

    def _tags_of(self, call: _Call, response: httpx.Response) -> list[str]:
        document = self._json(call, response, "tag list")
        tags = document.get("tags")
        if tags is None:
            return []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self._fail(InvalidResponse, call, "the tag list's 'tags' is not a list of strings")
        return tags

    def _json(self, call: _Call, response: httpx.Response, what: str) -> dict[str, Any]:
        if len(response.content) > _MAX_DOCUMENT:
            self._fail(InvalidResponse, call, f"the {what} is larger than {_MAX_DOCUMENT // 2**20} MiB")
        try:
            document = json.loads(response.content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._fail(InvalidResponse, call, f"the registry sent malformed JSON for the {what} ({exc}) — "
                       "the registry or a proxy in front of it is misbehaving")
        if not isinstance(document, dict):
            self._fail(InvalidResponse, call, f"the registry sent JSON that is not an object for the {what}")
        return document

    def _next_page(self, call: _Call, response: httpx.Response) -> str | None:
        for header in response.headers.get_list("Link"):
            for target, params in _LINK.findall(header):
                rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', params)
                if "next" not in " ".join(rels).split():
                    continue
                current = response.request.url
                following = current.join(target)
                if (following.scheme, following.host, following.port) != (
                        current.scheme, current.host, current.port):
                    self._fail(InvalidResponse, call, f"refusing to follow a tag-list page link to another "
                               f"host or scheme ({following.scheme}://{following.netloc.decode()}) — the "
                               "registry or a proxy in front of it is misconfigured")
                return str(following)
        return None

    def _raise_for_status(self, call: _Call, response: httpx.Response, what: str) -> NoReturn:
        status = response.status_code
        detail = error_detail(response)
        if status == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
            if challenge is not None and challenge.error == "insufficient_scope":
                self._fail(AuthError, call, f"access denied (401 insufficient_scope){detail}: the repository may "
                           f"not exist, or {self._credentials_hint(call, lacking=True)}")
            if call.credentials is None:
                self._fail(AuthError, call, f"authentication required (401){detail} — "
                           f"{self._credentials_hint(call)}")
            self._fail(AuthError, call, f"authentication failed (401){detail} — {self._credentials_hint(call)}")
        if status == 403:
            self._fail(AuthError, call, f"access denied (403){detail} — "
                       f"{self._credentials_hint(call, lacking=True)}")
        if status == 404:
            hint = " — check spec.image" if what == "repository" else ""
            self._fail(NotFound, call, f"{what} not found (404){detail}{hint}")
        if status >= 500:
            retried = f" after {self._retries} retries" if self._retries else ""
            self._fail(RegistryUnavailable, call, f"the registry answered {status}{retried}{detail} — it is "
                       "failing; try again later")
        if status == 400 and "HTTP request to an HTTPS server" in response.text:
            self._fail(RegistryError, call, f"{call.ref.api_host} speaks https, but spec.insecure: true made "
                       "us use plain http — remove spec.insecure")
        self._fail(RegistryError, call, f"unexpected answer {status} to {response.request.method} "
                   f"{response.request.url.path}{detail}")

    def _credentials_hint(self, call: _Call, lacking: bool = False) -> str:
        credentials = call.credentials
        if credentials is None:
            host = "docker.io" if call.ref.registry == DOCKER_HUB else call.ref.registry
            config = self._configs.get(call.options.credentials_config or b"")
            if config is not None:  # a secretRef is set, without an entry for this host: say what it has
                hosts = ", ".join(sorted(config.auths)) or "no hosts"
                return f"the registry wants credentials, and {config.source} has none for {host}: it has {hosts}"
            return (f"the registry wants credentials: set spec.secretRef to a docker config secret with "
                    f"credentials for {host}")
        if lacking:
            return f"the credentials from {credentials.source} lack pull access to it"
        return f"check the credentials in {credentials.source}"

    def _fail(self, kind: type[RegistryError], call: _Call, message: str) -> NoReturn:
        raise kind(f"{call.name}: {message}", repository=call.name, host=call.ref.api_host)


async def _stamp_request(request: httpx.Request) -> None:
    request.extensions["imagebot_sent"] = time.monotonic()  # for the request-duration metric
