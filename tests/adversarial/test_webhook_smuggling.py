"""Request smuggling against the real service: requests hidden in the body of another, by every
framing disagreement a front end and a back end have been known to have. Nothing hidden is ever
served: each attempt gets one refusal and the connection is closed."""

from __future__ import annotations

import asyncio
import re

import pytest

from ._webhook_service import PLAIN_HOOK, webhook_service

HIDDEN = b"POST " + PLAIN_HOOK.encode() + b" HTTP/1.1\r\nHost: imagebot\r\nContent-Length: 0\r\n\r\n"
HEAD = b"POST /healthz HTTP/1.1\r\nHost: imagebot\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


ATTEMPTS = {
    # A front end that reads Content-Length forwards the hidden request as part of this one's body.
    "CL.TE": HEAD + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % (5 + len(HIDDEN))
    + b"0\r\n\r\n" + HIDDEN,
    # A front end that reads the chunks forwards it whole; a back end reading Content-Length would not.
    "TE.CL": HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk(HIDDEN) + b"0\r\n\r\n",
    "TE.TE obfuscated": HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n" + chunk(HIDDEN)
    + b"0\r\n\r\n",
    "TE with a tab": HEAD + b"Transfer-Encoding:\tchunked\r\nContent-Length: 4\r\n\r\n" + chunk(HIDDEN)
    + b"0\r\n\r\n",
    "TE in capitals with CL": HEAD + b"TRANSFER-ENCODING: CHUNKED\r\nContent-Length: 4\r\n\r\n" + chunk(HIDDEN)
    + b"0\r\n\r\n",
    "two Content-Lengths": HEAD + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(HIDDEN) + HIDDEN,
    "Content-Length with a sign": HEAD + b"Content-Length: -1\r\n\r\n" + HIDDEN,
    "chunk size overflow": HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 40 + b"\r\n" + HIDDEN,
    "bare LF in a header line": HEAD + b"X-A: 1\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
    + chunk(HIDDEN) + b"0\r\n\r\n",
    "NUL in a header": HEAD + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n" + HIDDEN,
    "HTTP/0.9 request line": b"POST " + PLAIN_HOOK.encode() + b"\r\n\r\n" + HIDDEN,
    "space in the target": b"POST /healthz " + PLAIN_HOOK.encode() + b" HTTP/1.1\r\nHost: imagebot\r\n\r\n" + HIDDEN,
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with webhook_service(tmp_path_factory.mktemp("smuggling")) as running:
        yield running


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_a_smuggled_request_is_never_served(service, name: str) -> None:  # type: ignore[no-untyped-def]
    async def attempt() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        try:
            writer.write(ATTEMPTS[name])
            return await asyncio.wait_for(reader.read(), 10)
        except ConnectionError:
            return b""
        finally:
            writer.close()

    answer = asyncio.run(attempt())
    statuses = re.findall(rb"^HTTP/1\.1 (\d{3}) ", answer, re.MULTILINE)
    assert len(statuses) <= 1, f"{name}: a second answer means a hidden request was served: {answer!r}"
    assert all(s.startswith(b"4") or s.startswith(b"5") for s in statuses), f"{name}: {answer!r}"
    assert service.triggered("plain") == 0, f"{name}: the hidden webhook was served"
