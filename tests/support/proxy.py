"""A real forward proxy for tests: Debian's squid on a loopback port, with Basic auth and an access log.

    with start_squid(tmp_path) as proxy:
        proxy.url                 # http://127.0.0.1:PORT (no credentials)
        proxy.requests()          # access log lines: (status, method, url, user), e.g. (407, "CONNECT", ...)

squid answers a wrong or missing password with 407 (plain requests and CONNECT alike), tunnels
CONNECT to any port, and writes one access log line per request as it finishes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest

SQUID = "/usr/sbin/squid"
NCSA_AUTH = "/usr/lib/squid/basic_ncsa_auth"


@dataclass(frozen=True)
class ProxyRequest:
    status: int
    method: str
    url: str
    user: str | None


@dataclass
class SquidProxy:
    folder: Path
    port: int
    username: str
    password: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        return f"http://{self.username}:{self.password}@127.0.0.1:{self.port}"

    def requests(self) -> list[ProxyRequest]:
        found = []
        for line in (self.folder / "access.log").read_text().splitlines():
            # time elapsed client code/status bytes method url user hierarchy type
            fields = line.split()
            if len(fields) >= 8:
                status = int(fields[3].rpartition("/")[2] or 0)
                found.append(ProxyRequest(status, fields[5], fields[6], None if fields[7] == "-" else fields[7]))
        return found

    def requests_to(self, port: int) -> list[ProxyRequest]:
        return [r for r in self.requests() if f"127.0.0.1:{port}" in r.url]

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.folder / "access.log",
                                                                   self.folder / "cache.log") if p.exists())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_squid(folder: Path, username: str = "pxuser", password: str = "px-Pa55word-9f2c") -> Iterator[SquidProxy]:
    if not Path(SQUID).exists():
        pytest.fail("squid is not installed: run scripts/install test (it installs Debian's squid)")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)  # squid started as root runs as the `proxy` user and writes its logs here
    passwd = folder / "passwd"
    passwd.write_text(f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}\n")
    passwd.chmod(0o644)
    port = _free_port()
    config = folder / "squid.conf"
    config.write_text(f"""\
http_port 127.0.0.1:{port}
pid_filename {folder}/squid.pid
cache deny all
cache_mem 8 MB
access_log stdio:{folder}/access.log
buffered_logs off
cache_log {folder}/cache.log
cache_store_log none
coredump_dir {folder}
logfile_rotate 0
shutdown_lifetime 0 seconds
visible_hostname imagebot-test-proxy
auth_param basic program {NCSA_AUTH} {passwd}
auth_param basic children 2
auth_param basic realm imagebot-test-proxy
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
""")
    config.chmod(0o644)
    out = (folder / "squid.out").open("wb")
    process = subprocess.Popen([SQUID, "-N", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT,
                               env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    proxy = SquidProxy(folder, port, username, password)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                # a request to squid itself: any answer means it listens
                httpx.get(proxy.url, timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"squid did not start: {proxy.log_text()}") from None
                time.sleep(0.05)
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


@pytest.fixture
def squid() -> Iterator[SquidProxy]:
    """A fresh squid per test: its access log holds only that test's requests. Its folder is outside
    pytest's (0700) temporary root: squid started as root works as the `proxy` user."""
    folder = Path(tempfile.mkdtemp(prefix="ib-squid-"))
    try:
        with start_squid(folder) as proxy:
            yield proxy
    finally:
        shutil.rmtree(folder, ignore_errors=True)
