"""`validate --secrets-dir`: every secret an object names exists and holds what it is used for: a
docker config with credentials for the image's host, certificates and keys that load, a git
credential, a signing key that imports."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebot.config.models import FluxObject
from imagebot.config.problems import Problem, object_problem
from imagebot.config.secrets import SecretError, SecretStore

if TYPE_CHECKING:
    from imagebot.config._config import Config

# A check reads the secret's keys through the store and returns what is wrong, or None.
Check = Callable[[SecretStore, str], str | None]

# The costly checks (an SSL context, ssl-keygen, gpg: tens of milliseconds to a second each) are
# remembered by the secret's content, so that a service reload re-reads every secret but only
# checks again the ones that changed.
_REMEMBERED = 512


def _uses(config: Config) -> Iterable[tuple[FluxObject, str, str, Check]]:
    for repo in config.repositories:
        if repo.spec.secret_ref:
            yield repo, "spec.secretRef", repo.spec.secret_ref.name, _docker_config(repo.spec.image)
        if repo.spec.cert_secret_ref:
            yield repo, "spec.certSecretRef", repo.spec.cert_secret_ref.name, _tls
        if repo.spec.proxy_secret_ref:
            yield repo, "spec.proxySecretRef", repo.spec.proxy_secret_ref.name, _proxy
    for git in config.git_repositories:
        if git.spec.secret_ref:
            check = _github_app if git.spec.provider == "github" else _git_auth(git.spec.url)
            yield git, "spec.secretRef", git.spec.secret_ref.name, check
        if git.spec.proxy_secret_ref:
            yield git, "spec.proxySecretRef", git.spec.proxy_secret_ref.name, _git_proxy
        if git.spec.verify:
            yield git, "spec.verify.secretRef", git.spec.verify.secret_ref.name, _verification_keys
    for automation in config.automations:
        signing = automation.spec.git.commit.signing_key
        if signing:
            check = _gpg_key if signing.type == "gpg" else _ssh_signing_key
            yield automation, "spec.git.commit.signingKey.secretRef", signing.secret_ref.name, check
        push = automation.spec.git.push
        if push and push.pull_request:
            provider = push.pull_request.provider
            check = (_token_or_github_app if provider == "github"
                     else _token_or_basic() if provider in ("bitbucket", "bitbucketserver") else _keys("token"))
            yield automation, "spec.git.push.pullRequest.secretRef", push.pull_request.secret_ref.name, check
    for receiver in config.receivers:
        yield receiver, "spec.secretRef", receiver.spec.secret_ref.name, _keys("token")
    for provider in config.providers:
        if provider.spec.secret_ref:
            yield provider, "spec.secretRef", provider.spec.secret_ref.name, _any_key("address", "token", "headers")
        if provider.spec.proxy_secret_ref:
            yield provider, "spec.proxySecretRef", provider.spec.proxy_secret_ref.name, _proxy


def check_secrets(config: Config, secrets: SecretStore, config_path: str) -> list[Problem]:
    problems: list[Problem] = []
    uses = list(_uses(config))
    if secrets.root is None:
        if uses:
            names = sorted({name for _, _, name, _ in uses})
            problems.append(Problem(config_path, None, None, None, f"secrets referenced ({', '.join(names)}) were "
                                    "not checked: pass --secrets-dir to check them", "note"))
        return problems
    if not secrets.root.is_dir():
        return [Problem(str(secrets.root), None, None, None, "the secrets folder does not exist")]
    for obj, fieldname, name, check in uses:
        try:
            wrong = check(secrets, name)
        except SecretError as err:
            wrong = str(err)
        if wrong:
            problems.append(object_problem(obj, fieldname, wrong))
    return problems


def _keys(*keys: str) -> Check:
    def check(secrets: SecretStore, name: str) -> str | None:
        for key in keys:
            secrets.read(name, key)
        return None
    return check


def _github_app(secrets: SecretStore, name: str) -> str | None:
    from imagebot.delivery.githubapp import GitHubApp, GitHubAppError

    try:
        GitHubApp.from_secret(secrets, name).jwt()  # signs: the key loads and is RSA
    except GitHubAppError as err:
        return str(err)
    return None


def _token_or_github_app(secrets: SecretStore, name: str) -> str | None:
    from imagebot.delivery.githubapp import KEY_APP_ID

    if secrets.has(name, KEY_APP_ID) and not secrets.has(name, "token"):
        return _github_app(secrets, name)
    secrets.read(name, "token")
    return None


def _any_key(*keys: str) -> Check:
    def check(secrets: SecretStore, name: str) -> str | None:
        secrets.path(name, keys[0])  # the name and the folder
        if not any(secrets.has(name, k) for k in keys):
            return f"secret '{name}' has none of the keys {', '.join(keys)}"
        for key in keys:
            secrets.read_optional(name, key)
        return None
    return check


def _token_or_basic() -> Check:
    """Flux's Bitbucket Provider secrets: `token`, or `username` and `password`."""
    def check(secrets: SecretStore, name: str) -> str | None:
        if secrets.has(name, "token") or not secrets.has(name, "username"):
            secrets.read(name, "token")
        else:
            secrets.read(name, "username")
            secrets.read(name, "password")
        return None
    return check


def _proxy(secrets: SecretStore, name: str) -> str | None:
    from imagebot.proxy import proxy_from_secret

    proxy_from_secret(secrets, name)  # a ProxyConfigError (a SecretError) says what is wrong
    return None


def _git_proxy(secrets: SecretStore, name: str) -> str | None:
    from imagebot.proxy import for_git, proxy_from_secret

    for_git(proxy_from_secret(secrets, name))
    return None


def _verification_keys(secrets: SecretStore, name: str) -> str | None:
    """Every key file loads: OpenPGP keys import into a throwaway keyring, .sshpub keys are SSH keys."""
    from imagebot.delivery._verify import check_keys
    from imagebot.delivery.git import GitError, Verification

    if shutil.which("gpg") is None:
        return None
    try:
        check_keys(Verification.from_keys(name, {k: secrets.read(name, k, remember=False)
                                                 for k in secrets.keys(name)}))
    except GitError as err:
        return str(err)
    return None


def _docker_config(image: str) -> Check:
    def check(secrets: SecretStore, name: str) -> str | None:
        from imagebot.registry import ImageReference
        from imagebot.registry.credentials import DOCKER_HUB, CredentialLookupError, DockerConfig

        data = secrets.read(name, ".dockerconfigjson")
        source = f"secret '{name}' (.dockerconfigjson)"
        try:
            parsed = DockerConfig.parse(data, source)
        except CredentialLookupError as err:
            return str(err)
        if parsed.creds_store or parsed.cred_helpers:
            return None  # a credential helper answers at scan time
        host = ImageReference.parse(image).registry
        shown = "docker.io" if host == DOCKER_HUB else host
        plain = dataclasses.replace(parsed, creds_store=None, cred_helpers={})
        if _settle(plain.lookup(host)) is None:
            has = ", ".join(sorted(parsed.auths)) or "no hosts"
            return f"{source} has no credentials for {shown}: it has {has}"
        return None
    return check


def _settle(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never waits (a docker config lookup without credential
    helpers), without an event loop: load_config may run inside one (the service's reload)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    return True  # it waited on something (a helper): it is not this check's to judge


def _tls(secrets: SecretStore, name: str) -> str | None:
    ca, cert, key = (secrets.read_optional(name, k) for k in ("ca.crt", "tls.crt", "tls.key"))
    if ca is None and cert is None:
        return f"secret '{name}' has neither ca.crt nor tls.crt"
    return _tls_loads(name, ca, cert, key)


@functools.lru_cache(maxsize=_REMEMBERED)
def _tls_loads(name: str, ca: bytes | None, cert: bytes | None, key: bytes | None) -> str | None:
    if ca is not None:
        try:
            ssl.create_default_context(cadata=ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as err:
            return f"secret '{name}' key 'ca.crt' holds no PEM certificate that loads: {err}"
    if (cert is None) != (key is None):
        return f"secret '{name}' has {'tls.crt' if cert else 'tls.key'} without {'tls.key' if cert else 'tls.crt'}"
    if cert is not None and key is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # the ssl module loads a certificate only from files: the content checked is the content remembered
        with tempfile.TemporaryDirectory(prefix="ib-tls-") as tmp:
            cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_path.write_bytes(cert)
            key_path.touch(0o600)
            key_path.write_bytes(key)
            try:
                context.load_cert_chain(cert_path, key_path)
            except (ssl.SSLError, OSError) as err:
                return f"secret '{name}': tls.crt and tls.key do not load as a certificate and its key: {err}"
    return None


def _git_auth(url: str) -> Check:
    def check(secrets: SecretStore, name: str) -> str | None:
        secrets.path(name, "username")  # the name and the folder
        if url.startswith("ssh://"):
            identity = secrets.read_optional(name, "identity")
            if identity is None:
                return f"secret '{name}' has no key 'identity' (the SSH private key for {url.split('/')[2]})"
            return _ssh_key_loads(identity, name, "identity", secrets.read_optional(name, "password"))
        if secrets.has(name, "bearerToken"):
            secrets.read(name, "bearerToken")
            return None
        username, password = secrets.read_optional(name, "username"), secrets.read_optional(name, "password")
        if username is None or password is None:
            lacking = "username" if username is None else "password"
            return f"secret '{name}' has no key '{lacking}': an https remote needs username and password, " \
                   "or bearerToken"
        return None
    return check


@functools.lru_cache(maxsize=_REMEMBERED)
def _ssh_key_loads(key: bytes, name: str, what: str, passphrase: bytes | None = None) -> str | None:
    text = key.decode("utf-8", "replace")
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        return f"secret '{name}' key '{what}' is not a PEM or OpenSSH private key"
    keygen = shutil.which("ssh-keygen")
    if keygen is None or passphrase:
        return None  # a passphrase is never put on a command line, where `ps` shows it
    with tempfile.TemporaryDirectory(prefix="ib-key-") as tmp:
        path = Path(tmp) / "key"
        path.write_bytes(key if key.endswith(b"\n") else key + b"\n")
        path.chmod(0o600)
        done = subprocess.run([keygen, "-y", "-P", "", "-f", str(path)],
                              capture_output=True, check=False, timeout=30, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        return f"secret '{name}' key '{what}' does not load as an SSH private key"
    return None


def _ssh_signing_key(secrets: SecretStore, name: str) -> str | None:
    return _ssh_key_loads(secrets.read(name, "identity"), name, "identity")


def _gpg_key(secrets: SecretStore, name: str) -> str | None:
    key = secrets.read(name, "git.asc")
    if "-----BEGIN PGP PRIVATE KEY BLOCK-----" not in key.decode("ascii", "replace"):
        return f"secret '{name}' key 'git.asc' is not an armored PGP private key"
    if shutil.which("gpg") is None:
        return None
    return _gpg_key_imports(name, key, secrets.read_optional(name, "passphrase"))


@functools.lru_cache(maxsize=_REMEMBERED)
def _gpg_key_imports(name: str, key: bytes, passphrase: bytes | None) -> str | None:
    from imagebot.delivery._signing import Signing, signing_config
    from imagebot.delivery.git import GitError

    try:
        with signing_config(Signing("gpg", key_armored=key,
                                    passphrase=passphrase.decode().strip() if passphrase else None)):
            pass
    except GitError as err:
        return f"secret '{name}': {err}"
    return None
