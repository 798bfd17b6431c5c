"""Links the page may put in an href: a commit on its forge, and pull request URLs checked for scheme.

Escaping makes a value safe as text, not as a link target: `javascript:...` survives HTML
escaping. So every href the page renders comes from here, and only http(s) URLs get through.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from imagebot.delivery.forges import ForgeError, parse_repository_url

# Public forges recognised by host; a self-hosted one is recognised by the pull request provider
# its automation names (spec.git.push.pullRequest.provider).
KNOWN_HOSTS = {"github.com": "github", "gitlab.com": "gitlab", "codeberg.org": "gitea", "gitea.com": "gitea"}
_COMMIT_PATH = {"github": "/commit/", "gitlab": "/-/commit/", "gitea": "/commit/"}
_SHA = re.compile(r"[0-9a-f]{7,64}")


def http_url(url: str | None) -> str | None:
    """`url` when it is an absolute http or https URL without credentials, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    if any(c in url for c in "\r\n\t \"'<>\\"):
        return None
    return url


def commit_url(repository_url: str | None, commit: str | None, forge: str | None = None) -> str | None:
    """The web page of `commit` when the repository lives on a forge we know the URL scheme of."""
    if not repository_url or not commit or not _SHA.fullmatch(commit):
        return None
    try:
        location = parse_repository_url(repository_url)
    except ForgeError:
        return None  # file://, a bare path: no web page
    kind = KNOWN_HOSTS.get(location.host) or forge
    if kind not in _COMMIT_PATH:
        return None
    return f"https://{location.host}/{quote(location.path)}{_COMMIT_PATH[kind]}{commit}"


def redact_url(url: str | None) -> str | None:
    """A git URL with any user:password written into it removed (https://user:token@host/...)."""
    if url is None:
        return None
    return re.sub(r"(://)[^/@]*@", r"\1", url)
