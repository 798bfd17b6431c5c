"""The Distribution API client: tag lists and manifest digests here, build times and platforms in
_images.py, what an answer means in _call.py.

One RegistryClient serves one scan cycle. It limits requests per registry host, retries
connection failures, timeouts, 5xx and 429 with backoff (honouring Retry-After), and gives up on
a host that keeps answering 429: every later call for that host fails at once without a request.
A long-running process passes a RegistryPool: its clients then share connections, TLS contexts
and the per-host limit (see _pool.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import httpx

from imagebot import redact
from imagebot.httpbody import BodyLimit, BodyTooSlow, ResponseLimitError, body_limit
from imagebot.registry import _parse
from imagebot.registry._auth import Challenge, RegistryAuth, TokenCache, basic_header
from imagebot.registry._call import (
    CALL,
    Call,
    Host,
    count_response,
    credentials_hint,
    fail,
    parsed,
    raise_for_status,
    stamp_request,
)
from imagebot.registry._errors import (
    AuthError,
    InvalidResponse,
    RateLimited,
    RegistryError,
    RegistryUnavailable,
)
from imagebot.registry._failures import describe_transport_error
from imagebot.registry._images import MAX_DOCUMENT, MAX_MANIFEST, ImageReads
from imagebot.registry._media import MANIFEST_ACCEPT
from imagebot.registry._options import AccessOptions
from imagebot.registry._pool import RegistryPool
from imagebot.registry._stats import RequestStats
from imagebot.registry._tls import TLSMaterialError, build_ssl_context
from imagebot.registry.credentials import (
    CredentialLookupError,
    Credentials,
    DockerConfig,
    load_docker_config,
)
from imagebot.registry.reference import ImageReference, is_valid_tag
from imagebot.retry import RETRYABLE_STATUS, Attempts, Backoff, parse_retry_after

logger = logging.getLogger("imagebot.registry")

_MAX_TOKEN = 1024 * 1024  # a token answer is a few KiB
_MAX_TAGS = 500_000  # tags of one repository over all its pages
_MAX_RETRY_AFTER = 60.0  # a host asking for a longer pause is skipped for this cycle at once


class RegistryClient(ImageReads):
    """Reads tags, digests and creation times from OCI registries; use `async with`, one per cycle."""

    def __init__(self, concurrency_per_host: int = 8, max_pages: int = 1000, retries: int = 4,
                 ca_file: Path | None = None, docker_config_dir: Path | None = None,
                 backoff: Backoff | None = None, pool: RegistryPool | None = None) -> None:
        self.stats = RequestStats()
        # Without a pool (a CLI run) this client owns its connections and limits, closed with it.
        self._owns_pool = pool is None
        self._pool = pool or RegistryPool(concurrency_per_host)
        self._max_pages = max_pages
        self._retries = retries
        self._ca_file = ca_file
        self._docker_config_dir = docker_config_dir
        self._backoff = backoff or Backoff()
        self._hosts: dict[str, Host] = {}
        self._tokens = TokenCache()
        self._configs: dict[bytes, DockerConfig] = {}
        self._user_config: DockerConfig | bool | None = False  # False: not read yet
        self._credentials: dict[tuple[bytes | None, str], Credentials | None] = {}
        self._credential_locks: dict[tuple[bytes | None, str], asyncio.Lock] = {}
        self._created: dict[str, datetime | None] = {}
        # config digest -> created_at, platform (a future: concurrent reads of one config share a request)
        self._configs_read: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_pool:
            await self._pool.aclose()

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
                    fail(InvalidResponse, call, f"more than {self._max_pages} pages of tags; stopped "
                               "(raise the page limit if this repository really has that many tags)")
                visited.add(url)
                pages += 1
                call.paging = (f"the tag list was still paging after {pages - 1} pages ({len(tags)} tags) — the "
                              "registry's page links may loop" if pages > 1 else "")
                response = await self._fetch(call, "GET", url, what="repository")
                page_tags = parsed(call, _parse.tag_list, response.content)
                before = len(tags)
                tags.update(dict.fromkeys(page_tags))
                if len(tags) > _MAX_TAGS:
                    fail(InvalidResponse, call, f"more than {_MAX_TAGS} tags (the limit) after {pages} "
                               "pages; stopped")
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
                response = await self._fetch(call, "GET", url, headers=headers, what=f"tag {tag!r}",
                                             max_bytes=MAX_MANIFEST)
                digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
            return parsed(call, _parse.digest, digest, f"tag {tag!r}")

    # ---- one call's context ------------------------------------------------------------------

    @asynccontextmanager
    async def _call(self, ref: ImageReference, options: AccessOptions | None,
                    tag: str | None = None) -> AsyncIterator[Call]:
        options = options or AccessOptions()
        if tag is not None and not is_valid_tag(tag):
            raise RegistryError(f"{ref.name}: {tag[:130]!r} is not a valid tag", repository=ref.name,
                                host=ref.api_host)
        host = self._host(ref.api_host)
        if host.skipped:
            raise RateLimited(f"{ref.name}: {host.skipped}", repository=ref.name, host=ref.api_host)
        call: Call | None = None
        try:
            async with asyncio.timeout(options.timeout):
                credentials = await self._credentials_for(ref, options)
                call = Call(ref, options, self._client_for(ref, options), credentials, host,
                             time.monotonic() + options.timeout, self.stats)
                current = call
                call.auth = RegistryAuth(ref.api_host, f"repository:{ref.repository}:pull", credentials,
                                         self._tokens, lambda c, s, cr: self._fetch_token(current, c, s, cr))
                yield call
        except TimeoutError:
            limit = f"{options.timeout:g}s (spec.timeout)"
            if call is not None and (call.paging or call.doing):
                message = f"{call.paging or call.doing}; stopped when {limit} ran out"
            else:
                message = (f"no answer from {ref.api_host} within {limit} — check that the registry is up "
                           "and reachable, or raise spec.timeout")
            raise RegistryUnavailable(f"{ref.name}: {message}", repository=ref.name, host=ref.api_host) from None

    def _host(self, name: str) -> Host:
        if name not in self._hosts:
            self._hosts[name] = Host(self._pool.slots(name))
        return self._hosts[name]

    def _client_for(self, ref: ImageReference, options: AccessOptions) -> httpx.AsyncClient:
        key = (self._ca_file, options.ca_pem, options.cert_pem, options.key_pem, options.proxy)
        http = self._pool.client(key)
        if http is None:
            try:
                context = build_ssl_context(ca_pem=options.ca_pem, ca_file=self._ca_file,
                                            cert_pem=options.cert_pem, key_pem=options.key_pem)
            except TLSMaterialError as exc:
                where = f" in secret {options.cert_secret_name!r}" if options.cert_secret_name else ""
                raise RegistryError(f"{ref.name}: {exc}{where}", repository=ref.name,
                                    host=ref.api_host) from None
            limit = BodyLimit(MAX_DOCUMENT)  # each call sets its deadline: the end of spec.timeout
            http = httpx.AsyncClient(
                verify=context, timeout=options.timeout,
                limits=httpx.Limits(max_connections=None,
                                    max_keepalive_connections=4 * self._pool.concurrency_per_host),
                event_hooks={"request": [stamp_request, limit.on_request],
                             "response": [count_response, limit]},
                headers={"User-Agent": "imagebot"},
                proxy=options.proxy.for_httpx() if options.proxy else None,
            )
            self._pool.keep(key, http)
        return http

    # ---- credentials ------------------------------------------------------------------------

    async def _credentials_for(self, ref: ImageReference, options: AccessOptions) -> Credentials | None:
        if options.provider != "generic":  # a cloud login: cached and renewed by registry/cloud itself
            from imagebot.registry.cloud import LOGINS, Reach

            try:
                return await LOGINS.credentials(options.provider, ref.registry,
                                                Reach(options.ca_pem, self._ca_file, options.insecure,
                                                      options.proxy))
            except CredentialLookupError as exc:
                raise AuthError(f"{ref.name}: cannot log in: {exc}", repository=ref.name, host=ref.api_host) from None
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

    async def _fetch(self, call: Call, method: str, url: str, *, what: str,
                     headers: dict[str, str] | None = None, follow_redirects: bool = False,
                     max_bytes: int | None = None) -> httpx.Response:
        """Send with auth, limits and retries; return a 2xx answer or raise the matching RegistryError."""
        response = await self._send(call, method, url, headers=headers or {}, auth=call.auth,
                                    follow_redirects=follow_redirects, max_bytes=max_bytes)
        if response.status_code < 300:
            return response
        raise_for_status(call, response, what, self._config_of(call))

    async def _send(self, call: Call, method: str, url: str, *, headers: dict[str, str],
                    auth: httpx.Auth | None, follow_redirects: bool = False, limited: bool = True,
                    data: dict[str, str] | None = None, max_bytes: int | None = None) -> httpx.Response:
        host = call.host
        # Retries end with the retry count or with spec.timeout, whichever comes first: a wait that
        # would outlast the timeout is not started, and the last answer is reported as it was.
        attempts = Attempts(self._backoff, self._retries, deadline=call.deadline)
        call.retried = ""
        before = call.doing  # restored once this request is done: a later one may hang for its own reasons
        while True:
            self._check_skipped(call)
            async with self._slot(host, limited):
                self._check_skipped(call)
                pause = host.resume_at - time.monotonic()
                if pause > 0:
                    if pause >= call.remaining():
                        raise RateLimited(f"{call.name}: registry {call.ref.api_host} is rate limiting requests "
                                          f"(429) and asks for a {pause:.0f}s pause, longer than the "
                                          f"{call.remaining():.1f}s left of spec.timeout",
                                          repository=call.name, host=call.ref.api_host)
                    await asyncio.sleep(pause)
                    self._check_skipped(call)
                sent_at = time.monotonic()
                doing = call.doing
                try:
                    response = await call.http.request(
                        method, url, headers=headers, auth=auth, data=data,
                        follow_redirects=follow_redirects, timeout=call.remaining(),
                        extensions={**body_limit(max_bytes, call.deadline), CALL: call})
                    call.doing = doing
                except ResponseLimitError as exc:
                    kind = RegistryUnavailable if isinstance(exc, BodyTooSlow) else InvalidResponse
                    fail(kind, call, f"{exc} — the registry or a proxy in front of it is misbehaving")
                except httpx.TooManyRedirects:
                    fail(InvalidResponse, call, f"{method} {httpx.URL(url).path[:200]} was redirected more "
                               f"than {call.http.max_redirects} times (a redirect loop) — the registry or a proxy "
                               "in front of it is misconfigured")
                except httpx.DecodingError as exc:
                    fail(InvalidResponse, call, f"the registry sent a body that cannot be decoded ({exc}) — "
                               "the registry or a proxy in front of it is misbehaving")
                except (httpx.TransportError, ssl.SSLError) as exc:
                    # ssl errors after the handshake (a refused client certificate) escape httpx unwrapped.
                    call.doing = doing
                    self.stats.record_transport_error(httpx.URL(url).netloc.decode())
                    failure = describe_transport_error(exc, call.ref.api_host, call.options)
                    delay = None if failure.final else attempts.next_wait()
                    if delay is None:
                        suffix = f" ({attempts.stop_reason})" if attempts.stop_reason else ""
                        kind = AuthError if failure.auth else RegistryUnavailable
                        raise kind(f"{call.name}: {failure.message}{suffix}",
                                   repository=call.name, host=call.ref.api_host) from None
                    response = None
            if response is None:
                logger.debug("%s: %s failed (%s); retry %d in %.2fs", call.name, method, failure.message,
                             attempts.done, delay)
            elif response.status_code == 429:
                self._on_rate_limited(call, sent_at, response)
                continue  # the host's own schedule (resume_at) decides when to try again
            else:
                if host.throttled_since is not None and sent_at >= host.throttled_since:
                    host.throttled_since, host.strikes = None, 0
                if response.status_code not in RETRYABLE_STATUS:
                    call.doing = before
                    return response
                delay = attempts.next_wait(parse_retry_after(response.headers.get("Retry-After")))
                if delay is None:
                    call.retried, call.doing = attempts.stop_reason, before
                    return response
                call.doing = f"{call.ref.api_host} answered {response.status_code}, and retrying it"
                logger.debug("%s: %s answered %d; retry %d in %.2fs", call.name, method,
                             response.status_code, attempts.done, delay)
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def _slot(self, host: Host, limited: bool) -> AsyncIterator[None]:
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

    def _on_rate_limited(self, call: Call, sent_at: float, response: httpx.Response) -> None:
        host, now = call.host, time.monotonic()
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            call.stats.record_retry_after(call.ref.api_host, retry_after)
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

    def _skip_host(self, call: Call, why: str) -> NoReturn:
        host = call.host
        if host.skipped is None:
            host.skipped = (f"registry {call.ref.api_host} is rate limiting requests (429, {why}); it is "
                            "skipped for the rest of this scan cycle — scan less often, or use credentials "
                            "with a higher rate limit")
            logger.warning("%s", host.skipped)
        self._check_skipped(call)
        raise AssertionError("unreachable")

    def _check_skipped(self, call: Call) -> None:
        if call.host.skipped:
            raise RateLimited(f"{call.name}: {call.host.skipped}", repository=call.name, host=call.ref.api_host)

    def _config_of(self, call: Call) -> DockerConfig | None:
        """The docker config of the call's secretRef, if one was read: its hosts make a better hint."""
        return self._configs.get(call.options.credentials_config or b"")

    # ---- tokens -------------------------------------------------------------------------------

    async def _fetch_token(self, call: Call, challenge: Challenge, scope: str,
                           credentials: Credentials | None) -> tuple[str, float]:
        realm = httpx.URL(challenge.realm) if challenge.realm else None
        if realm is None or realm.scheme not in ("http", "https") or not realm.host:
            fail(InvalidResponse, call, f"the registry's bearer challenge has no usable realm "
                       f"({challenge.realm[:100]!r})")
        if realm.scheme == "http" and credentials is not None and not call.options.insecure:
            fail(AuthError, call, f"refusing to send credentials to the plain-http token server "
                       f"{realm.host} — use https, or set spec.insecure: true if this is intended")
        params = {"service": challenge.service} if challenge.service else {}
        headers: dict[str, str] = {}
        data = None
        if credentials is not None and credentials.identity_token:
            # OAuth2 refresh-token grant, as docker does with an identity token.
            data = {**params, "grant_type": "refresh_token", "refresh_token": credentials.identity_token,
                    "client_id": "imagebot", "scope": scope}
            response = await self._send(call, "POST", str(realm), headers=headers, auth=None,
                                        limited=False, data=data, max_bytes=_MAX_TOKEN)
        else:
            if credentials is not None:
                headers["Authorization"] = basic_header(credentials)
            url = realm.copy_merge_params({**params, "scope": scope})
            response = await self._send(call, "GET", str(url), headers=headers, auth=None, limited=False,
                                        max_bytes=_MAX_TOKEN)
        if response.status_code in (401, 403):
            fail(AuthError, call, f"the token server {realm.host} refused "
                       f"{'the credentials' if credentials else 'an anonymous token'} "
                       f"({response.status_code}) — {credentials_hint(call, self._config_of(call))}")
        if response.status_code >= 300:
            fail(RegistryUnavailable, call, f"the token server {realm.host} answered "
                       f"{response.status_code} — try again later")
        document = parsed(call, _parse.json_object, response.content, f"token from {realm.host}")
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            fail(InvalidResponse, call, f"the token server {realm.host} answered without a token")
        # A registry may echo the token it refused: it is a credential like any other.
        redact.register_secrets([token, *(t for t in (document.get("refresh_token"),) if isinstance(t, str))])
        lifetime = document.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 60.0

    # ---- answers ------------------------------------------------------------------------------

    def _next_page(self, call: Call, response: httpx.Response) -> str | None:
        following = parsed(call, _parse.next_page, response.headers.get_list("Link"), response.request.url)
        return None if following is None else str(following)
