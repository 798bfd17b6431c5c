"""Plain words for what went wrong on the wire: transport failures and a registry's own error body."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass

import httpx

from imagebot.redact import excerpt
from imagebot.registry._options import AccessOptions


@dataclass(frozen=True)
class TransportFailure:
    message: str
    final: bool  # retrying cannot help (a certificate problem)
    auth: bool = False  # credentials were refused (a proxy's 407): an AuthError, not RegistryUnavailable


def describe_transport_error(exc: httpx.TransportError | ssl.SSLError, host: str,
                             options: AccessOptions) -> TransportFailure:
    cause: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore's error, which wraps the ssl one
        if cause is None or isinstance(cause, ssl.SSLError):
            break
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        where = (f"certSecretRef {options.cert_secret_name!r} (ca.crt)" if options.cert_secret_name
                 else "certSecretRef (ca.crt) or --ca-file")
        return TransportFailure(f"the TLS certificate of {host} is not trusted ({cause.verify_message}) — "
                                 f"put the CA that signed it in {where}", final=True)
    if isinstance(cause, ssl.SSLError):
        reason = cause.reason or str(cause)
        if reason == "WRONG_VERSION_NUMBER":
            return TransportFailure(f"{host} does not speak TLS — if it is a plain-http registry, set "
                                     "spec.insecure: true", final=True)
        return TransportFailure(f"TLS handshake with {host} failed ({reason}) — check the registry's TLS "
                                 "setup and, if it requires one, the client certificate (tls.crt, tls.key)",
                                 final=True)
    if isinstance(exc, httpx.ProxyError) and str(exc).startswith("407"):
        return TransportFailure(proxy_refused(options, host), final=True, auth=True)
    if isinstance(exc, httpx.ProxyError):
        where = options.proxy.describe() if options.proxy else "the proxy (from the environment)"
        return TransportFailure(f"{where} did not open a connection to {host} ({exc}) — check the proxy "
                                 "and that it allows this host", final=False)
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure(f"{host} did not answer in time ({type(exc).__name__}) — check that the "
                                 "registry is up, or raise spec.timeout", final=False)
    if isinstance(exc, httpx.ConnectError):
        return TransportFailure(f"cannot connect to {host} ({exc or type(exc).__name__}) — check the host "
                                 "name, port and network", final=False)
    return TransportFailure(f"the connection to {host} failed ({type(exc).__name__}: "
                             f"{exc or 'closed'}) — the registry or the network is failing", final=False)


def proxy_refused(options: AccessOptions, host: str) -> str:
    """A 407: the proxy wants (other) credentials. The caller's text names the repository."""
    if options.proxy is not None:
        return options.proxy.refused(host)
    return (f"the proxy (from HTTPS_PROXY/HTTP_PROXY) refused the request to {host}: 407 Proxy Authentication "
            "Required — put the proxy's credentials in the variable (http://user:password@host:port) or use "
            "spec.proxySecretRef")


def error_detail(response: httpx.Response) -> str:
    """The registry's own error code and message (distribution's `errors` array), if it sent one.

    Never more: a body can echo what we sent (credentials included), so only these two short fields
    are quoted, each cut, stripped of control characters and scrubbed of every registered secret.
    """
    try:
        errors = json.loads(response.content).get("errors")
        first = errors[0]
        code, message = excerpt(str(first.get("code", "")), 60), excerpt(str(first.get("message", "")), 160)
    except (ValueError, AttributeError, TypeError, IndexError, KeyError, RecursionError):
        return ""
    return f": {code} {message}".rstrip() if code or message else ""
