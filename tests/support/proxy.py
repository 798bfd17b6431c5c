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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from imagebot.proxy import Proxy, parse_proxy
from tests.support.clouds import CLOUD_TEST_HOSTS

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

    def requests_matching(self, match: Callable[[ProxyRequest], bool], timeout: float = 5.0) -> list[ProxyRequest]:
        """The logged requests `match` takes, waiting up to `timeout` for the first: squid logs a CONNECT
        tunnel only once it closes, a moment after the client has hung up."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.requests() if match(r)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

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
    # The clouds' registry names the tests use resolve to loopback for squid too (tests/support/clouds.py).
    (folder / "hosts").write_text("127.0.0.1 localhost " + " ".join(CLOUD_TEST_HOSTS) + "\n")
    (folder / "hosts").chmod(0o644)
    process, port = _launch(folder, passwd)
    proxy = SquidProxy(folder, port, username, password)
    try:
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _launch(folder: Path, passwd: Path, attempts: int = 3) -> tuple[subprocess.Popen[bytes], int]:
    """squid on a free loopback port; another port if that one was taken between the pick and the bind.
    Ready when its log says it accepts on that very port (a probe could reach whoever took it)."""
    for _ in range(attempts):
        port = _free_port()
        config = folder / "squid.conf"
        config.write_text(_CONFIG.format(port=port, folder=folder, auth=NCSA_AUTH, passwd=passwd))
        config.chmod(0o644)
        (folder / "cache.log").unlink(missing_ok=True)
        with (folder / "squid.out").open("wb") as out:
            process = subprocess.Popen([SQUID, "-N", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        deadline = time.monotonic() + 20
        ready = f"local=127.0.0.1:{port} "
        while process.poll() is None and time.monotonic() < deadline:
            log = folder / "cache.log"
            if log.exists() and ready in log.read_text(errors="replace"):
                return process, port
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait()
            break  # not a taken port: squid hangs
    raise RuntimeError("squid did not start: " + "\n".join(
        p.read_text(errors="replace") for p in (folder / "cache.log", folder / "squid.out") if p.exists()))


_CONFIG = """\
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
hosts_file {folder}/hosts
auth_param basic program {auth} {passwd}
auth_param basic children 2
auth_param basic realm imagebot-test-proxy
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
"""


def proxy_over_a_dead_environment(squid: SquidProxy, monkeypatch: pytest.MonkeyPatch) -> Proxy:
    """An object's proxySecretRef to `squid`, while the environment's proxies lead nowhere: whatever
    follows the environment instead of the object's proxy fails."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return parse_proxy(squid.url, "spec.proxySecretRef, secret 'corp-proxy'", squid.username, squid.password,
                       "corp-proxy")


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
