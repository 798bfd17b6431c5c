"""Forward proxies: Flux's `spec.proxySecretRef` (secret keys `address`, `username`, `password`).

One object's proxy carries all of that object's traffic: an ImageRepository's registry requests
(token requests included), a GitRepository's git over HTTP(S), a Provider's notifications. It
overrides the process environment for that object, `NO_PROXY` included, as Flux's
`http.ProxyURL(...)` does. Objects without one use the standard environment (`HTTPS_PROXY`,
`HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), which httpx reads (trust_env) and git is given in the same
meaning (`git_env_proxies`).

The credentials never reach argv, logs or errors: they are registered with imagebot.redact when
read, httpx gets them as a Proxy-Authorization pair, git through its environment only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

import httpx

from imagebot.config.secrets import SecretError
from imagebot.redact import register_credentials

if TYPE_CHECKING:
    from imagebot.config.secrets import SecretStore

MAX_ADDRESS = 2048  # Flux's limit for a proxy address (fluxcd/pkg runtime/secrets ProxyURLFromSecret)


class ProxyConfigError(SecretError):
    """A proxy address or secret that cannot work; the text names the secret, never a password."""


@dataclass(frozen=True)
class Proxy:
    """A forward proxy: `address` (scheme://host:port, safe to show) and optional Basic credentials."""

    address: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    source: str = ""  # where it was configured, for messages: "spec.proxySecretRef, secret 'corp-proxy'"
    secret: str | None = None  # the secret holding the credentials, if any

    @property
    def url(self) -> str:
        """The address with the user name in it (no password): git asks its credential helper for that."""
        if not self.username:
            return self.address
        parts = urlsplit(self.address)
        return f"{parts.scheme}://{quote(self.username, safe='')}@{parts.netloc}"

    @property
    def url_with_credentials(self) -> str:
        """The address with user and password percent-encoded in it, for libraries that take only a URL
        (the clouds' SDKs, which decode it into a Proxy-Authorization header). Never to be shown."""
        if not self.username:
            return self.address
        parts = urlsplit(self.address)
        userinfo = quote(self.username, safe="") + (":" + quote(self.password, safe="") if self.password else "")
        return f"{parts.scheme}://{userinfo}@{parts.netloc}"

    def for_httpx(self) -> httpx.Proxy:
        auth = (self.username, self.password or "") if self.username else None
        return httpx.Proxy(self.address, auth=auth)

    def describe(self) -> str:
        return f"proxy {self.address}" + (f" ({self.source})" if self.source else "")

    def refused(self, target: str) -> str:
        """The message for a 407 answer (the caller names its object): which proxy, what to check."""
        where = f"secret '{self.secret}'" if self.secret else "the proxy address"
        check = (f"check username and password in {where}" if self.username
                 else f"the proxy wants credentials: add username and password to {where}")
        return f"the {self.describe()} refused the request to {target}: 407 Proxy Authentication Required — {check}"

    def git_env(self) -> dict[str, str]:
        """git's environment for this proxy: every scheme through it, nothing bypassing it, and the
        password in a variable only the credential helper of `git_config` reads."""
        url = self.url
        return {"http_proxy": url, "https_proxy": url, "HTTPS_PROXY": url, "ALL_PROXY": url, "all_proxy": url,
                "NO_PROXY": "", "no_proxy": "", _PASSWORD_VARIABLE: self.password or ""}

    def git_config(self) -> dict[str, str]:
        """A credential helper for the proxy's URL alone, answering with the password from the environment.

        Not the password in the proxy URL, and no prompt: a prompt reaches GIT_ASKPASS, whose answer is
        the git server's password. See `for_git` for the one character git cannot pass on."""
        if not self.username:
            return {}
        helper = f'!f() {{ test "$1" = get && printf "password=%s\\n" "${_PASSWORD_VARIABLE}"; }}; f'
        return {f"credential.{self.address}.helper": helper}


_PASSWORD_VARIABLE = "IMAGEBOT_PROXY_PASSWORD"


def for_git(proxy: Proxy) -> Proxy:
    """`proxy`, if git can use it. git 2.39 with libcurl 7.88 (Debian 12) URL-decodes a proxy password
    on its way to the proxy, a different number of times for the first request and for the retry after
    the server's 401 (found through squid): no encoding of a `%` survives both, so it is refused here
    rather than failing with a 407 that blames the password."""
    if proxy.password and "%" in proxy.password:
        raise ProxyConfigError(f"{proxy.source or 'the proxy'}: the proxy password contains '%', which git "
                               "cannot pass on to a proxy intact (it URL-decodes proxy passwords); registry and "
                               "notification requests could use it, git over HTTP(S) cannot: choose a password "
                               "without '%'")
    return proxy


def parse_proxy(address: str, source: str, username: str | None = None, password: str | None = None,
                secret: str | None = None) -> Proxy:
    """An http(s) proxy address, with credentials from `username`/`password` or its own user info."""
    address = address.strip()
    if not address:
        raise ProxyConfigError(f"{source}: the proxy address is empty")
    if len(address) > MAX_ADDRESS:
        raise ProxyConfigError(f"{source}: the proxy address is longer than {MAX_ADDRESS} characters (Flux's limit)")
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ProxyConfigError(f"{source}: the proxy address is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise ProxyConfigError(f"{source}: the proxy address must start with http:// or https:// "
                               f"(got {parts.scheme + '://' if parts.scheme else 'no scheme'})")
    if not host:
        raise ProxyConfigError(f"{source}: the proxy address has no host")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ProxyConfigError(f"{source}: the proxy address must be scheme://host[:port], without a path")
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, in_url = userinfo.partition(":")
        username = username if username is not None else (unquote(user) or None)
        if password is None and has_password:
            password = unquote(in_url)
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    register_credentials(username, password)
    return Proxy(f"{parts.scheme}://{netloc}", username or None, password, source, secret)


def proxy_from_secret(secrets: SecretStore, name: str) -> Proxy:
    """Flux's proxy secret: `address` (required), `username` and `password` (optional).

    The address is read without registering it as a secret: messages name the proxy by it. A
    password in it (`http://user:pass@host`) is registered by `parse_proxy` like the `password` key."""
    if not secrets.has(name, "address"):
        secrets.path(name, "address")  # a missing folder or a bad name says so itself
        raise ProxyConfigError(f"secret '{name}' (spec.proxySecretRef) has no key 'address' (the proxy's "
                               "http(s)://host:port)")
    address = secrets.read(name, "address", remember=False).decode("utf-8", "replace")
    username = secrets.read_text(name, "username") if secrets.has(name, "username") else None
    password = secrets.read_text(name, "password") if secrets.has(name, "password") else None
    proxy = parse_proxy(address, f"secret '{name}' key 'address'", username, password, name)
    return dataclasses.replace(proxy, source=f"spec.proxySecretRef, secret '{name}'")


def register_environment_credentials() -> None:
    """Hide the credentials of the environment's proxies (`http://user:pass@proxy`) from every text:
    httpx reads those variables itself, so imagebot registers them where it builds requests."""
    git_env_proxies()


def git_env_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process's proxy variables in the meaning httpx gives them, for git (libcurl).

    curl reads `http_proxy` in lower case only, httpx both cases: an `HTTP_PROXY` alone would send
    registry requests through the proxy and git's past it. Lower-case names win, as in both."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        value = env.get(name, env.get(name.upper()))
        if value is not None:
            found[name] = found[name.upper()] = value
            if name != "no_proxy" and "@" in value:
                _register_userinfo(value)
    return found


def env_proxy_git_config(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """For an environment proxy named with a user but no password (`http://user@proxy:3128`), git
    would ask GIT_ASKPASS for one, which answers with the git server's password: a credential helper
    scoped to that proxy answers first, with an empty password."""
    config = {}
    for value in git_env_proxies(environ).values():
        try:
            parts = urlsplit(value if "://" in value else f"http://{value}")
            userinfo, _, hostport = parts.netloc.rpartition("@")
        except ValueError:
            continue
        if userinfo and ":" not in userinfo and parts.scheme in ("http", "https"):
            config[f"credential.{parts.scheme}://{hostport}.helper"] = '!f() { test "$1" = get && echo password=; }; f'
    return config


def _register_userinfo(url: str) -> None:
    try:
        userinfo = urlsplit(url if "://" in url else f"http://{url}").netloc.rpartition("@")[0]
    except ValueError:
        return
    user, _, password = userinfo.partition(":")
    register_credentials(unquote(user), unquote(password) or None)
