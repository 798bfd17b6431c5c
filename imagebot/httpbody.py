"""Bounded HTTP answers: every body imagebot reads stops at a size and a time limit.

A server can answer with an endless chunked body, a lying or absent Content-Length, a gzip bomb or
a body that drips a byte at a time. httpx reads whole bodies (our own reads, and its own: a 401
before the auth retry, a redirect before following it), so the limit is put on the response stream
itself by an httpx response hook, before anything reads it:

    client = httpx.AsyncClient(event_hooks={"response": [BodyLimit(1 << 20, seconds=30)]})
    response = await client.get(url, extensions=body_limit(64 << 10))   # a smaller limit for one call

Reading past the limit raises `BodyTooLarge` (or `BodyTooSlow`), naming the limit. Compressed
bodies are decoded here, with the limit on the decoded size, so a small gzip bomb stays small.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

_MAX_BYTES = "imagebot.max_body_bytes"  # request extensions: a per-request override of the hook's limits
_DEADLINE = "imagebot.body_deadline"
_STARTED = "imagebot.body_started"
ACCEPT_ENCODING = "gzip, deflate"  # what the decoder below undoes; br and zstd are not asked for


class ResponseLimitError(Exception):
    """An answer went past a limit; the message names the host and the limit."""

    def __init__(self, message: str, *, limit: float) -> None:
        super().__init__(message)
        self.limit = limit


class BodyTooLarge(ResponseLimitError):
    pass


class BodyTooSlow(ResponseLimitError):
    pass


def size_text(size: float) -> str:
    """`8388608` -> `8 MiB`: limits said the way a person reads them."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size:g} bytes"


def body_limit(max_bytes: int | None = None, deadline: float | None = None) -> dict[str, Any]:
    """Request extensions overriding the client's limits for one request (`deadline`: monotonic)."""
    extensions: dict[str, Any] = {}
    if max_bytes is not None:
        extensions[_MAX_BYTES] = max_bytes
    if deadline is not None:
        extensions[_DEADLINE] = deadline
    return extensions


def read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """The body of a streamed answer of a blocking client (a login in a worker thread), stopped past
    `max_bytes` (BodyTooLarge) or `deadline`, a time.monotonic() (BodyTooSlow)."""
    host = response.request.url.netloc.decode(errors="replace")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(f"the answer from {host} is larger than the limit of {size_text(max_bytes)}",
                               limit=max_bytes)
        if time.monotonic() > deadline:
            raise BodyTooSlow(f"{host} was still sending its answer when the time limit ran out", limit=max_bytes)
    return bytes(body)


def stamp_request(request: httpx.Request) -> None:
    """Remember when a request left (for the time limit) and ask only for encodings we can bound."""
    request.extensions = {**request.extensions, _STARTED: time.monotonic()}
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING


class BodyLimit:
    """An httpx event hook (request and response) putting size and time limits on every answer."""

    def __init__(self, max_bytes: int, *, seconds: float | None = None) -> None:
        self.max_bytes = max_bytes
        self.seconds = seconds

    async def on_request(self, request: httpx.Request) -> None:
        stamp_request(request)

    async def __call__(self, response: httpx.Response) -> None:
        request = response.request
        max_bytes = int(request.extensions.get(_MAX_BYTES, self.max_bytes))
        deadline = request.extensions.get(_DEADLINE)
        if deadline is None and self.seconds is not None:
            deadline = request.extensions.get(_STARTED, time.monotonic()) + self.seconds
        host = request.url.netloc.decode(errors="replace")
        declared = response.headers.get("Content-Length", "")
        if request.method != "HEAD" and declared.strip().isdigit() and int(declared) > max_bytes:
            await response.aclose()
            raise BodyTooLarge(f"{host} announced a {size_text(int(declared))} answer, over the limit of "
                               f"{size_text(max_bytes)}; it was not read", limit=max_bytes)
        decoder = _decoder(response, host, max_bytes)
        response.stream = _BoundedStream(response.stream, host, max_bytes, deadline, decoder)

    def hooks(self) -> dict[str, list[Any]]:
        """The `event_hooks` argument of an httpx client."""
        return {"request": [self.on_request], "response": [self]}


def _decoder(response: httpx.Response, host: str, max_bytes: int) -> Any:
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ResponseLimitError(f"{host} answered with Content-Encoding {encoding[:40]!r}, which imagebot did "
                                 f"not ask for and cannot read within its {size_text(max_bytes)} limit",
                                 limit=max_bytes)
    # Decoded here (httpx would decode without a bound), so httpx must not decode it again.
    del response.headers["Content-Encoding"]
    return zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, host: str, max_bytes: int, deadline: float | None, decoder: Any) -> None:
        self._inner = inner
        self._host = host
        self._max = max_bytes
        self._deadline = deadline
        self._decoder = decoder

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for raw in self._inner:
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise BodyTooSlow(f"{self._host} was still sending its answer ({size_text(size)} so far) when the "
                                  "time limit ran out", limit=self._max)
            chunk = self._decode(raw, size) if self._decoder is not None else raw
            size += len(chunk)
            if size > self._max:
                raise self._too_large()
            if chunk:
                yield chunk
        if self._decoder is not None:
            tail = self._decoder.flush()
            if size + len(tail) > self._max:
                raise self._too_large()
            if tail:
                yield tail

    def _decode(self, raw: bytes, size: int) -> bytes:
        try:
            # max_length: never inflate more than the room left, however small the compressed chunk
            chunk = self._decoder.decompress(raw, self._max - size + 1)
        except zlib.error as exc:
            raise httpx.DecodingError(f"{self._host} sent a malformed compressed body ({exc})") from None
        if self._decoder.unconsumed_tail:
            raise self._too_large()
        return chunk

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"the answer from {self._host} is larger than the limit of {size_text(self._max)}; "
                            "reading stopped there", limit=self._max)

    async def aclose(self) -> None:
        await self._inner.aclose()
