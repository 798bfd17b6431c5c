"""SSL contexts for registries: system CAs plus a CA of the user's, and an optional client certificate."""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any


class TLSMaterialError(Exception):
    """The CA, certificate or key could not be loaded; the message says which and why."""


class _SystemCAsOnFirstUse(ssl.SSLContext):
    """`ssl.create_default_context()`, except that the system CAs load on the first TLS handshake.

    Reading the system CA bundle costs 40-80 ms of CPU; a plan over plain-http registries (spec.insecure)
    never shakes hands, and a command line pays it at start-up otherwise. Every TLS connection goes
    through wrap_bio (asyncio, anyio) or wrap_socket (blocking sockets), so the CAs are there before
    any certificate is checked.
    """

    _lock = threading.Lock()
    _system_cas_loaded = False

    def _load_system_cas(self) -> None:
        with self._lock:
            if not self._system_cas_loaded:
                self.load_default_certs(ssl.Purpose.SERVER_AUTH)
                self._system_cas_loaded = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_system_cas()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_system_cas()
        return super().wrap_socket(*args, **kwargs)


def build_ssl_context(
    *, ca_pem: bytes | None = None, ca_file: Path | None = None,
    cert_pem: bytes | None = None, key_pem: bytes | None = None,
) -> ssl.SSLContext:
    """A verifying context trusting the system CAs, `ca_file` and `ca_pem`; with a client cert if given."""
    # what ssl.create_default_context() sets: CERT_REQUIRED, check_hostname, its SSLKEYLOGFILE
    context = _SystemCAsOnFirstUse(ssl.PROTOCOL_TLS_CLIENT)
    if hasattr(context, "keylog_filename") and (keylog := os.environ.get("SSLKEYLOGFILE")) \
            and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TLSMaterialError(f"cannot load the CA file {ca_file}: {_reason(exc)}") from None
    try:
        if ca_pem:
            context.load_verify_locations(cadata=ca_pem.decode("ascii", errors="replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise TLSMaterialError(f"ca.crt is not a PEM certificate: {_reason(exc)}") from None
    if cert_pem or key_pem:
        if not (cert_pem and key_pem):
            raise TLSMaterialError("a client certificate needs both tls.crt and tls.key")
        _load_client_certificate(context, cert_pem, key_pem)
    return context


def _load_client_certificate(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    # The ssl module loads certificates only from files: write them to a private folder, briefly.
    with tempfile.TemporaryDirectory(prefix="imagebot-tls-") as folder:
        cert_path, key_path = Path(folder, "tls.crt"), Path(folder, "tls.key")
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise TLSMaterialError(
                f"tls.crt and tls.key are not a matching PEM certificate and key: {_reason(exc)}"
            ) from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
