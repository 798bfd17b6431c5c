"""Secrets as files: `SECRETS_DIR/NAME/KEY`, the layout of a mounted Kubernetes secret volume.

The same folder works in a cluster (one secret volume per name under one mount) and on any host.
A name is a Kubernetes name and a key a Kubernetes secret key, and the file read must resolve to
a regular file inside the folder (a volume's `..data` links are inside it): a name such as
`../../etc` or a link out of the folder is refused, as are FIFOs, devices and oversized files.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_SECRET_BYTES = 1024 * 1024  # a Kubernetes secret holds at most 1 MiB in all
MAX_SECRET_KEYS = 256  # where a whole secret is read (verification keys): more is no real secret

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_KEY = re.compile(r"[-._a-zA-Z0-9]+")


class SecretError(LookupError):
    """A secret or one of its keys is missing or unusable; the message says which file was expected."""


@dataclass(frozen=True)
class SecretStore:
    root: Path | None

    def path(self, name: str, key: str) -> Path:
        """The file of `name`/`key`, resolved and checked to stay inside the secrets folder."""
        if self.root is None:
            raise SecretError(
                f"secret '{name}' is referenced but no secrets folder is set: "
                f"pass --secrets-dir DIR (or IMAGEBOT_SECRETS_DIR) with DIR/{name}/{key}"
            )
        if len(name) > 253 or not _NAME.fullmatch(name):
            raise SecretError(f"secret name {name!r} is not a Kubernetes name (lowercase letters, digits, '-' "
                              "and '.'): refused")
        if len(key) > 253 or not _KEY.fullmatch(key) or key in (".", ".."):
            raise SecretError(f"secret '{name}': key {key!r} is not a Kubernetes secret key: refused")
        root = self.root.resolve()
        folder = root / name
        if not folder.is_dir():
            raise SecretError(f"secret '{name}' not found: expected a folder {self.root / name}")
        target = (folder / key).resolve()
        if not target.is_relative_to(root):
            raise SecretError(f"secret '{name}' key '{key}' leads out of the secrets folder {self.root} "
                              "(a symbolic link elsewhere): refused")
        return target

    def has(self, name: str, key: str) -> bool:
        try:
            return self.path(name, key).is_file()
        except (SecretError, OSError):
            return False

    def read(self, name: str, key: str, *, remember: bool = True) -> bytes:
        """The key's bytes; registered as a secret (hidden from every text) unless `remember` is False,
        for values that are not secret and that messages must name (a proxy's address)."""
        path = self.path(name, key)
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise SecretError(f"secret '{name}' has no key '{key}': expected a file {self.root}/{name}/{key}") \
                from None
        except OSError as err:
            raise SecretError(f"secret '{name}' key '{key}' cannot be read: {err.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SecretError(f"secret '{name}' key '{key}' is not a regular file: refused")
            if info.st_size > MAX_SECRET_BYTES:
                raise SecretError(f"secret '{name}' key '{key}' is {info.st_size} bytes, over the limit of "
                                  f"{MAX_SECRET_BYTES} bytes (1 MiB, as Kubernetes secrets): refused")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as err:
            raise SecretError(f"secret '{name}' key '{key}' cannot be read: {err.strerror}") from None
        finally:
            os.close(fd)
        if len(data) > MAX_SECRET_BYTES:
            raise SecretError(f"secret '{name}' key '{key}' is over the limit of {MAX_SECRET_BYTES} bytes: refused")
        if remember:
            _remember(key, data)
        return data

    def keys(self, name: str) -> list[str]:
        """The keys the secret holds, sorted: its files, without a mounted volume's `..data` entries."""
        self.path(name, "probe")  # the name, the folder and the secrets folder are checked there
        assert self.root is not None
        found = []
        for entry in sorted((self.root.resolve() / name).iterdir()):
            if entry.name.startswith(".") or not _KEY.fullmatch(entry.name) or len(entry.name) > 253:
                continue
            if self.has(name, entry.name):
                found.append(entry.name)
                if len(found) > MAX_SECRET_KEYS:
                    raise SecretError(f"secret '{name}' has more than {MAX_SECRET_KEYS} keys (the limit): refused")
        return found

    def read_optional(self, name: str, key: str) -> bytes | None:
        return self.read(name, key) if self.has(name, key) else None

    def read_text(self, name: str, key: str) -> str:
        try:
            return self.read(name, key).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SecretError(f"secret '{name}' key '{key}' is not UTF-8 text") from None


# Keys whose values are not secret: scrubbing them from logs would only hide useful context.
_PUBLIC_KEYS = {"username", "known_hosts", "ca.crt", "tls.crt", "caFile"}


def _remember(key: str, data: bytes) -> None:
    """Every secret value read is registered so that no log line can carry it."""
    if key in _PUBLIC_KEYS:
        return
    from imagebot.redact import register_secrets

    text = data.decode("utf-8", "replace").strip()
    register_secrets([text, *(line.strip() for line in text.splitlines() if len(line.strip()) >= 8)])
