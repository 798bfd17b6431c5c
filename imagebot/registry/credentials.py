"""Registry credentials from a docker config.json, read as the docker CLI reads it.

`auths` (base64 `auth`, or `username`/`password`, or `identitytoken`), `credsStore` and
`credHelpers` (running `docker-credential-NAME get`). Docker Hub's key is
`https://index.docker.io/v1/`; other registries use host[:port]. The Kubernetes
`.dockerconfigjson` secret has the same format; the older `.dockercfg` (hosts at the top level)
is read too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from imagebot.redact import register_credentials
from imagebot.registry.reference import DOCKER_HUB

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_HUB_HOSTNAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HELPER_TIMEOUT = 30.0
MAX_CONFIG_BYTES = 1024 * 1024  # a docker config with hundreds of registries is a few KiB
_TOKEN_USERNAME = "<token>"  # a helper's way of returning an identity (refresh) token
_T = TypeVar("_T")


class CredentialLookupError(Exception):
    """The configuration is unreadable or a credential helper failed; the message says which."""


@dataclass(frozen=True)
class Credentials:
    """A username and password (or identity token) for one registry; `source` says where they came from."""

    username: str
    password: str = field(repr=False)
    source: str = ""
    identity_token: str | None = field(default=None, repr=False)
    # A cloud login (registry/cloud): logs in again when the registry refuses these credentials.
    renew: Callable[[], Awaitable[Credentials]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _AuthEntry:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DockerConfig:
    """The credential parts of a docker config.json; `source` names it in messages."""

    source: str
    auths: dict[str, _AuthEntry] = field(default_factory=dict, repr=False)
    creds_store: str | None = None
    cred_helpers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, source: str) -> DockerConfig:
        if len(data) > MAX_CONFIG_BYTES:
            raise CredentialLookupError(f"{source} is larger than {MAX_CONFIG_BYTES // 1024} KiB, the limit for a "
                                        "docker config")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CredentialLookupError(f"{source} is not valid JSON: {exc}") from None
        except RecursionError:
            raise CredentialLookupError(f"{source} is JSON nested too deeply to be a docker config") from None
        if not isinstance(document, dict):
            raise CredentialLookupError(f"{source} is not a JSON object")
        legacy = "auths" not in document and not {"credsStore", "credHelpers"} & document.keys()
        raw_auths = document if legacy else document.get("auths") or {}
        if not isinstance(raw_auths, dict):
            raise CredentialLookupError(f"{source}: 'auths' must be an object of registry host to credentials")
        auths = {key: _parse_entry(value, key, source) for key, value in raw_auths.items()
                 if isinstance(value, dict)}
        helpers = document.get("credHelpers") or {}
        if not isinstance(helpers, dict):
            raise CredentialLookupError(f"{source}: 'credHelpers' must be an object of registry host to helper")
        store = document.get("credsStore") or None
        return cls(source=source, auths=auths, creds_store=store, cred_helpers={**helpers})

    async def lookup(self, registry: str) -> Credentials | None:
        """Credentials for `registry` (as in ImageReference.registry), or None for anonymous access."""
        server = DOCKER_HUB_SERVER if registry == DOCKER_HUB else registry
        helper = _find(self.cred_helpers, registry) or self.creds_store
        if helper:
            found = await run_credential_helper(helper, server)
            if found is not None:
                return found
        entry = _find(self.auths, registry)
        if entry is None:
            return None
        if entry.identity_token:
            return Credentials(entry.username or "", "", self.source, identity_token=entry.identity_token)
        if entry.username is None or entry.password is None:
            return None
        return Credentials(entry.username, entry.password, self.source)


def load_docker_config(directory: Path | None = None) -> DockerConfig | None:
    """The user's docker config: `directory`, else $DOCKER_CONFIG, else ~/.docker; None if there is none.

    A service asks on every scan (each has a client of its own): the same bytes are not parsed again."""
    if directory is None:
        directory = Path(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"))
    path = os.path.join(directory, "config.json")
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)  # a bigger one is refused by parse, unread
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialLookupError(f"cannot read docker config {path}: {exc.strerror}") from None
    last = _last_config.get(path)
    if last is not None and last[0] == data:
        return last[1]
    parsed = DockerConfig.parse(data, path)
    _last_config.clear()  # one file in use, as a rule: keep no more
    _last_config[path] = (data, parsed)
    return parsed


_last_config: dict[str, tuple[bytes, DockerConfig]] = {}  # path -> its content and what it says


async def run_credential_helper(helper: str, server: str) -> Credentials | None:
    """`docker-credential-HELPER get` for `server`; None when the helper has nothing for it."""
    program = f"docker-credential-{helper}"
    executable = shutil.which(program)
    if executable is None:
        raise CredentialLookupError(
            f"credential helper {program} is not on PATH (named by credsStore/credHelpers in the docker config)"
        )
    try:
        process = await asyncio.create_subprocess_exec(
            executable, "get", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(_HELPER_TIMEOUT):
            out, err = await process.communicate(server.encode())
    except TimeoutError:
        process.kill()
        raise CredentialLookupError(
            f"credential helper {program} did not answer within {_HELPER_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise CredentialLookupError(f"cannot run credential helper {program}: {exc.strerror}") from None
    text = out.decode(errors="replace").strip()
    if process.returncode != 0:
        if "credentials not found" in text.lower():
            return None
        # The helper's own complaint helps the user; it is about the lookup, not the secret.
        reason = (err.decode(errors="replace").strip() or text).splitlines()[:1]
        detail = f": {reason[0][:200]}" if reason else ""
        raise CredentialLookupError(f"credential helper {program} failed (exit {process.returncode}){detail}")
    try:
        answer = json.loads(text)
        username, secret = answer["Username"], answer["Secret"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CredentialLookupError(
            f"credential helper {program} printed something other than its JSON answer") from None
    source = f"credential helper {program}"
    if not isinstance(username, str) or not isinstance(secret, str):
        raise CredentialLookupError(f"credential helper {program} answered a non-string Username or Secret")
    register_credentials(username, secret, tokens=[secret])
    if username == _TOKEN_USERNAME:
        return Credentials("", "", source, identity_token=secret)
    return Credentials(username, secret, source)


def _find(mapping: dict[str, _T], registry: str) -> _T | None:
    """Docker's matching: the exact key first, then keys that reduce to the same host[:port]."""
    server = DOCKER_HUB_SERVER if registry == DOCKER_HUB else registry
    if server in mapping:
        return mapping[server]
    for key, value in mapping.items():
        host = _hostname(key)
        if host == registry or (registry == DOCKER_HUB and host in _HUB_HOSTNAMES):
            return value
    return None


def _hostname(key: str) -> str:
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme):]
    return key.split("/", 1)[0]


def _parse_entry(value: dict[str, Any], key: str, source: str) -> _AuthEntry:
    fields = {name: value.get(name) for name in ("auth", "username", "password", "identitytoken", "registrytoken")}
    for name, field_value in fields.items():
        if field_value is not None and not isinstance(field_value, str):
            raise CredentialLookupError(f"{source}: the {name!r} of {key!r} must be a string")
    # Registered before anything is sent: a registry echoing them back must find them hidden.
    register_credentials(fields["username"], fields["password"], auth=fields["auth"],
                         tokens=[fields["identitytoken"], fields["registrytoken"]])
    identity = fields["identitytoken"] or None
    if fields["auth"]:
        try:
            decoded = base64.b64decode(fields["auth"], validate=False).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CredentialLookupError(f"{source}: the 'auth' of {key!r} is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialLookupError(f"{source}: the 'auth' of {key!r} is not base64 of user:password")
        register_credentials(username, password)
        return _AuthEntry(username, password, identity)
    return _AuthEntry(fields["username"], fields["password"], identity)
