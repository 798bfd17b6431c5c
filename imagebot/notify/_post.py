"""One webhook POST with retries: the part every provider shares.

Connection errors, timeouts, 429 (honouring Retry-After) and 5xx are retried with exponential
backoff; any other status is final. Errors name the provider and the redacted URL only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagebot import __version__
from imagebot import redact as _redact
from imagebot.httpbody import BodyLimit, ResponseLimitError
from imagebot.retry import Attempts, Backoff, parse_retry_after

from ._model import Event, NotifyError, ProviderSettings
from ._progress import request_starting

logger = logging.getLogger("imagebot.notify")

USER_AGENT = f"imagebot/{__version__}"
_BODY_SNIPPET = 200
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|pass|cookie|signature|session", re.IGNORECASE)
_MAX_ANSWER = 256 * 1024  # services answer "ok" or a short error; nothing bigger is read


@dataclass(frozen=True)
class Delivery:
    """What a provider posts: the exact bytes (signatures are computed over them) and headers."""

    url: str = field(repr=False)
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


def json_body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookNotifier(ABC):
    """Base of the providers: `render` builds the request (pure), `send` posts it with retries."""

    def __init__(self, settings: ProviderSettings, *, retries: int = 3, backoff: Backoff | None = None) -> None:
        self.settings = settings
        self.retries = max(0, retries)
        self.backoff = backoff or Backoff()
        self._secrets = [*settings.secrets(), *_redact.secret_parts(self.url)]
        # Hidden everywhere: the address and the credentials. Other header values (`X-Team: platform`)
        # are hidden from this notifier's own errors only, or every log line would lose that word.
        public = {v for k, v in settings.headers.items() if not _CREDENTIAL_HEADER.search(k)}
        _redact.register_secrets(s for s in self._secrets if s not in public)

    @property
    def url(self) -> str:
        """Where this provider posts (some providers adjust the address, as Flux does for Discord)."""
        return self.settings.address

    @abstractmethod
    def render(self, event: Event) -> Delivery: ...

    def check(self, response: httpx.Response) -> None:  # noqa: B027 - optional hook, default: accept
        """Look at a 2xx answer; providers whose API reports errors in a 200 body override this."""

    def base_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(self.settings.headers)
        return headers

    async def send(self, event: Event) -> None:
        """Deliver one event; raises NotifyError (with a redacted text) once retries are spent."""
        delivery = self.render(event)
        attempts = Attempts(self.backoff, self.retries)
        limit = BodyLimit(_MAX_ANSWER, seconds=self.settings.timeout)
        proxy = self.settings.proxy.for_httpx() if self.settings.proxy else None
        async with httpx.AsyncClient(timeout=self.settings.timeout, follow_redirects=False,
                                     event_hooks=limit.hooks(), proxy=proxy) as client:
            while True:
                try:
                    await self._attempt(client, delivery)
                    return
                except NotifyError as err:
                    wait = attempts.next_wait(err.retry_after) if err.retryable else None
                    if wait is None:
                        if err.retryable:
                            tried = attempts.done + 1
                            plural = "s" if tried != 1 else ""
                            raise NotifyError(f"{err} (gave up after {tried} attempt{plural})") from None
                        raise
                    logger.info(
                        "notification via provider %s: attempt %d/%d failed (%s); retrying in %.2fs",
                        self.settings.ref,
                        attempts.done,
                        self.retries + 1,
                        err,
                        wait,
                    )
                    await asyncio.sleep(wait)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        where = f"{self.settings.type.value} provider {self.settings.ref} ({_redact.redact_url(delivery.url)})"
        request_starting()
        try:
            response = await client.post(delivery.url, content=delivery.body, headers=dict(delivery.headers))
        except ResponseLimitError as err:
            raise NotifyError(f"{where}: {self._scrub(str(err))}") from None
        except httpx.TimeoutException:
            raise NotifyError(f"{where}: no answer within {self.settings.timeout:g}s", retryable=True) from None
        except httpx.ProxyError as err:
            if str(err).startswith("407"):  # CONNECT refused: other credentials are needed, retrying won't help
                raise NotifyError(f"{where}: {self._proxy_refused()}") from None
            raise NotifyError(f"{where}: {self._proxy_name()} failed: {self._scrub(str(err))}",
                              retryable=True) from None
        except httpx.TransportError as err:
            # The class name says what happened; the text of transport errors can quote the URL.
            raise NotifyError(
                f"{where}: {type(err).__name__}: {self._scrub(str(err)) or 'connection failed'}", retryable=True
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise NotifyError(f"{where}: {type(err).__name__}: {self._scrub(str(err))}") from None
        status = response.status_code
        if 200 <= status < 300:
            self.check(response)
            return
        detail = _redact.excerpt(response.content, _BODY_SNIPPET, self._secrets)
        detail = f": {detail}" if detail else ""
        if status == 429:
            raise NotifyError(
                f"{where}: rate limited (HTTP 429){detail}",
                retryable=True,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 407:  # the proxy's answer to a plain-http request
            raise NotifyError(f"{where}: {self._proxy_refused()}")
        if status >= 500:
            raise NotifyError(f"{where}: server error HTTP {status}{detail}", retryable=True)
        raise NotifyError(f"{where}: HTTP {status}{detail}{_hint(status)}")

    def _scrub(self, text: str) -> str:
        return _redact.scrub(text, self._secrets)

    def _proxy_name(self) -> str:
        return self.settings.proxy.describe() if self.settings.proxy else "the proxy (from the environment)"

    def _proxy_refused(self) -> str:
        if self.settings.proxy:
            return self.settings.proxy.refused(_redact.redact_url(self.url))
        return ("the proxy (from HTTPS_PROXY/HTTP_PROXY) refused the request: 407 Proxy Authentication Required — "
                "put its credentials in the variable or use the Provider's spec.proxySecretRef")


def _hint(status: int) -> str:
    if status in (404, 410):
        return "; the webhook no longer exists: update the `address` key of the Provider's secret"
    if status in (401, 403):
        return "; the service refused the credentials: check the `token`/`address` in the Provider's secret"
    if status == 400:
        return "; the service rejected the message"
    if 300 <= status < 400:
        return "; redirects are not followed: set the final URL as the Provider's address"
    return ""
