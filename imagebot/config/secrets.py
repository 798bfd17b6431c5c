"""Secrets as files: `SECRETS_DIR/NAME/KEY`, the layout of a mounted Kubernetes secret volume.

The same folder works in a cluster (one secret volume per name under one mount) and on any host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class SecretError(LookupError):
    """A secret or one of its keys is missing; the message says which file was expected."""


@dataclass(frozen=True)
class SecretStore:
    root: Path | None

    def has(self, name: str, key: str) -> bool:
        return self.root is not None and (self.root / name / key).is_file()

    def read(self, name: str, key: str) -> bytes:
        if self.root is None:
            raise SecretError(
                f"secret '{name}' is referenced but no secrets folder is set: "
                f"pass --secrets-dir DIR (or IMAGEBOT_SECRETS_DIR) with DIR/{name}/{key}"
            )
        path = self.root / name / key
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            folder = self.root / name
            if not folder.is_dir():
                raise SecretError(f"secret '{name}' not found: expected a folder {folder}") from None
            raise SecretError(f"secret '{name}' has no key '{key}': expected a file {path}") from None
        except OSError as err:
            raise SecretError(f"secret '{name}' key '{key}' cannot be read: {err.strerror}") from None
        _remember(key, data)
        return data

    def read_optional(self, name: str, key: str) -> bytes | None:
        return self.read(name, key) if self.has(name, key) else None

    def read_text(self, name: str, key: str) -> str:
        return self.read(name, key).decode("utf-8").strip()


# Keys whose values are not secret: scrubbing them from logs would only hide useful context.
_PUBLIC_KEYS = {"username", "known_hosts", "ca.crt", "tls.crt", "caFile"}


def _remember(key: str, data: bytes) -> None:
    """Every secret value read is registered so that no log line can carry it."""
    if key in _PUBLIC_KEYS:
        return
    from imagebot.redact import register_secrets

    text = data.decode("utf-8", "replace").strip()
    register_secrets([text, *(line.strip() for line in text.splitlines() if len(line.strip()) >= 8)])
