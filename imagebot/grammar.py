"""The reference grammar of distribution/reference and the OCI distribution spec, in one place:
the registry client parses with it, the updater checks what it writes with it."""

from __future__ import annotations

import re

DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN = rf"(?:{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PATH = rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255


def is_tag(value: str) -> bool:
    """A valid OCI/docker tag: what may follow the `:` of a reference."""
    return TAG.fullmatch(value) is not None
