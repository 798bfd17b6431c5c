"""Real git remotes for tests: bare repositories, smart HTTP with Basic auth, SSH, and another writer.

Fixtures (pull them into a test folder's conftest with `from tests.support.gitremotes import ...`):
    isolated_git_home   HOME, GNUPGHOME, GIT_CONFIG_GLOBAL in a temp folder (the machine's config stays out)
    bare_remote         a bare repository with a few manifests on `main`, by path and file:// URL
    http_git_server     git-http-backend behind a stdlib HTTP server on 127.0.0.1 with Basic auth (session)
    ssh_git_server      sshd on a loopback port with its own host key and a client key (session)
Helpers: make_bare_repo(), BareRemote.commit() (another writer), git().
"""

from __future__ import annotations

import base64
import getpass
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
SSHD = "/usr/sbin/sshd"

_HERMETIC_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Other Writer",
    "GIT_AUTHOR_EMAIL": "other@example.com",
    "GIT_COMMITTER_NAME": "Other Writer",
    "GIT_COMMITTER_EMAIL": "other@example.com",
    "LC_ALL": "C",
}

DEFAULT_FILES: Mapping[str, str] = {
    "apps/app/deployment.yaml": (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: app\n"
        "  namespace: default\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: app\n"
        '          image: ghcr.io/example/app:1.2.3 # {"$imagepolicy": "flux-system:app"}\n'
    ),
    "README.md": "manifests\n",
}


def git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        stdin: str | None = None) -> str:
    """Run git with a hermetic environment (no system/global config); return stdout, raise on failure."""
    full_env = {**os.environ, **_HERMETIC_ENV, **(env or {})}
    proc = subprocess.run(["git", *args], cwd=cwd, env=full_env, input=stdin, capture_output=True,
                          text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class BareRemote:
    """A bare repository: `path`, its `url` (file://) and the default `branch`."""

    path: Path
    branch: str = "main"

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def head(self, branch: str | None = None) -> str:
        return git("rev-parse", f"refs/heads/{branch or self.branch}", cwd=self.path).strip()

    def ref(self, ref: str) -> str | None:
        out = git("for-each-ref", "--format=%(objectname)", ref, cwd=self.path).strip()
        return out or None

    def read(self, file: str, branch: str | None = None) -> str:
        return git("show", f"{branch or self.branch}:{file}", cwd=self.path)

    def log(self, branch: str | None = None) -> list[str]:
        """Commit subjects, newest first."""
        return git("log", "--format=%s", f"refs/heads/{branch or self.branch}", cwd=self.path).splitlines()

    def parents(self, sha: str) -> list[str]:
        return git("rev-list", "--parents", "-n1", sha, cwd=self.path).split()[1:]

    def message(self, sha: str) -> str:
        return git("log", "-1", "--format=%B", sha, cwd=self.path)

    def commit(self, files: Mapping[str, str], message: str = "another writer",
               branch: str | None = None) -> str:
        """Another writer: clone, change `files`, commit and push to `branch`; the new sha."""
        return commit_on_remote(self.url, files, message, branch or self.branch)

    def enable_push_options(self, record_to: Path) -> None:
        """Advertise push options and record the ones received (one per line) with a pre-receive hook."""
        git("config", "receive.advertisePushOptions", "true", cwd=self.path)
        hook = self.path / "hooks" / "pre-receive"
        hook.write_text(
            "#!/bin/sh\n"
            f": > '{record_to}'\n"
            'i=0\nwhile [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
            '  eval "v=\\$GIT_PUSH_OPTION_$i"\n'
            f"  printf '%s\\n' \"$v\" >> '{record_to}'\n"
            "  i=$((i+1))\ndone\n"
        )
        hook.chmod(0o755)

    def reject_pushes(self, reason: str) -> None:
        """A pre-receive hook that declines every push, as a protected branch would."""
        hook = self.path / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\necho '{reason}' >&2\nexit 1\n")
        hook.chmod(0o755)


def commit_on_remote(url: str, files: Mapping[str, str], message: str, branch: str = "main",
                     env: Mapping[str, str] | None = None) -> str:
    """Clone `url` elsewhere, write `files`, commit and push to `branch`: a concurrent writer."""
    scratch = Path(tempfile.mkdtemp(prefix="other-writer-"))
    try:
        git("clone", "--quiet", "--branch", branch, url, str(scratch / "w"), env=env)
        work = scratch / "w"
        for name, text in files.items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", message, cwd=work)
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work, env=env)
        return git("rev-parse", "HEAD", cwd=work).strip()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def make_bare_repo(path: Path, files: Mapping[str, str] = DEFAULT_FILES, branch: str = "main") -> BareRemote:
    """A bare repository at `path` whose `branch` holds one commit with `files`."""
    git("init", "--quiet", "--bare", "--initial-branch", branch, str(path))
    seed = Path(tempfile.mkdtemp(prefix="seed-"))
    try:
        git("init", "--quiet", "--initial-branch", branch, str(seed))
        for name, text in files.items():
            target = seed / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git("add", "--all", cwd=seed)
        git("commit", "--quiet", "-m", "initial manifests", cwd=seed)
        git("push", "--quiet", str(path), f"HEAD:refs/heads/{branch}", cwd=seed)
    finally:
        shutil.rmtree(seed, ignore_errors=True)
    return BareRemote(path, branch)


@pytest.fixture
def isolated_git_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME, GNUPGHOME and git's global config in a fresh folder; system config off."""
    home = tmp_path_factory.mktemp("home")
    gnupg = home / ".gnupg"
    gnupg.mkdir(mode=0o700)
    (home / ".gitconfig").write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in ("GIT_SSH_COMMAND", "GIT_SSH", "GIT_ASKPASS", "SSH_ASKPASS", "SSH_AUTH_SOCK"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def bare_remote(tmp_path: Path) -> BareRemote:
    return make_bare_repo(tmp_path / "remote.git")


# -- smart HTTP -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpRequestLog:
    method: str
    path: str
    user: str | None
    sent_credentials: bool
    chunked: bool = False


@dataclass
class HttpGitServer:
    """git-http-backend for every bare repository under `root`, behind Basic auth (`username`/`password`)."""

    root: Path
    username: str = "bot"
    password: str = "s3cret-Pa55word"
    bearer_token: str = "b3arer-t0ken-value"  # accepted as `Authorization: Bearer ...` too (Flux's bearerToken)
    port: int = 0
    requests: list[HttpRequestLog] = field(default_factory=list)
    # (wall-clock start, seconds, method, path) of each git-http-backend run: the server's own time
    backend_runs: list[tuple[float, float, str, str]] = field(default_factory=list)
    # Called while each request is being served (the client's git is running): a hook to inspect it.
    on_request: Callable[[], None] | None = None
    # Decides instead of username/password: called with the Authorization header (None when absent).
    accepts: Callable[[str | None], bool] | None = None
    _server: http.server.ThreadingHTTPServer | None = None

    def url_for(self, repo: BareRemote) -> str:
        return f"http://127.0.0.1:{self.port}/{repo.path.relative_to(self.root).as_posix()}"

    def new_repo(self, name: str, files: Mapping[str, str] = DEFAULT_FILES) -> BareRemote:
        return make_bare_repo(self.root / name, files)

    def start(self) -> None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _make_handler(state: HttpGitServer) -> type[http.server.BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{state.username}:{state.password}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm the body waited for the client's
        # delayed ACK of the headers (40 ms on Linux) on every response. Real servers set TCP_NODELAY.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            body = self._body()
            if state.on_request is not None:
                state.on_request()
            path, _, query = self.path.partition("?")
            header = self.headers.get("Authorization")
            ok = state.accepts(header) if state.accepts else header in (expected, f"Bearer {state.bearer_token}")
            chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
            state.requests.append(HttpRequestLog(self.command, path, state.username if ok else None,
                                                 header is not None, chunked))
            if not ok:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(state.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": state.username,
                "REMOTE_ADDR": "127.0.0.1",
            }
            for name in ("Git-Protocol", "Content-Encoding"):
                if self.headers.get(name):
                    env["HTTP_" + name.upper().replace("-", "_")] = self.headers[name]
            started, clock = time.time(), time.monotonic()
            proc = subprocess.run([HTTP_BACKEND], input=body, env=env, capture_output=True, timeout=60,
                                  check=False)
            state.backend_runs.append((started, time.monotonic() - clock, self.command, self.path))
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = proc.stdout.partition(b"\n\n")
            status, headers = 200, []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture(scope="session")
def http_git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpGitServer]:
    server = HttpGitServer(tmp_path_factory.mktemp("http-git"))
    server.start()
    yield server
    server.stop()


# -- SSH ------------------------------------------------------------------------------------------

@dataclass
class SshGitServer:
    """sshd on 127.0.0.1:`port` serving bare repositories under `root` to the holder of `identity`."""

    root: Path
    identity: bytes = b""
    known_hosts: bytes = b""
    port: int = 0
    user: str = field(default_factory=getpass.getuser)
    log: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None

    def url_for(self, repo: BareRemote) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repo.path}"

    def new_repo(self, name: str, files: Mapping[str, str] = DEFAULT_FILES) -> BareRemote:
        return make_bare_repo(self.root / name, files)

    def authorize(self, public_key: str) -> None:
        """Accept one more client key."""
        with (self.root / "keys" / "authorized_keys").open("a") as f:
            f.write(public_key.strip() + "\n")

    def start(self) -> None:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        keys = self.root / "keys"
        keys.mkdir()
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys / name)],
                           check=True, capture_output=True)
        shutil.copy(keys / "client_key.pub", keys / "authorized_keys")
        self.identity = (keys / "client_key").read_bytes()
        for _ in range(5):
            self.port = _free_port()
            config = keys / "sshd_config"
            config.write_text(
                f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {keys / 'host_key'}\nPidFile none\n"
                f"AuthorizedKeysFile {keys / 'authorized_keys'}\nUsePAM no\nStrictModes no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                f"PermitRootLogin prohibit-password\nAllowUsers {self.user}\nAcceptEnv GIT_PROTOCOL\n"
                "LogLevel INFO\n"
            )
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line)
                if "Server listening on" in line:
                    self._proc = proc
                    break
            if self._proc is not None:
                break
            proc.wait(timeout=5)
        else:
            raise RuntimeError("sshd did not start: " + "".join(self.log[-5:]))
        threading.Thread(target=self._drain, daemon=True).start()
        host_key = (keys / "host_key.pub").read_text().split()
        self.known_hosts = f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n".encode()

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self.log.append(line)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ssh_git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    server = SshGitServer(tmp_path_factory.mktemp("ssh-git"))
    server.start()
    yield server
    server.stop()


# -- signing keys ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpgTestKey:
    """An ed25519 OpenPGP key protected by `passphrase`, as a Flux signing secret holds it (`git.asc`)."""

    armored_secret: bytes
    armored_public: bytes
    passphrase: str
    fingerprint: str
    email: str


@pytest.fixture(scope="session")
def gpg_test_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgTestKey]:
    home = Path(tempfile.mkdtemp(prefix="ib-gpgkey-"))  # short: the agent's socket path is length-limited
    home.chmod(0o700)
    passphrase, email = "correct horse battery", "bot@example.com"
    gpg = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback",
           "--passphrase", passphrase]
    try:
        subprocess.run([*gpg, "--quick-gen-key", f"Imagebot Test <{email}>", "ed25519", "sign", "never"],
                       check=True, capture_output=True, timeout=60)
        colons = subprocess.run([*gpg, "--with-colons", "--list-secret-keys"], check=True,
                                capture_output=True, text=True).stdout
        fingerprint = next(ln.split(":")[9] for ln in colons.splitlines() if ln.startswith("fpr:"))
        secret = subprocess.run([*gpg, "--armor", "--export-secret-keys", fingerprint], check=True,
                                capture_output=True).stdout
        public = subprocess.run([*gpg, "--armor", "--export", fingerprint], check=True,
                                capture_output=True).stdout
        yield GpgTestKey(secret, public, passphrase, fingerprint, email)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True,
                       check=False)
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class SshTestKey:
    private: bytes
    public: str


@pytest.fixture(scope="session")
def ssh_signing_key(tmp_path_factory: pytest.TempPathFactory) -> SshTestKey:
    path = tmp_path_factory.mktemp("ssh-sign") / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signing", "-f", str(path)],
                   check=True, capture_output=True)
    return SshTestKey(path.read_bytes(), path.with_suffix(".pub").read_text().strip())
