"""What may be written into a manifest. A registry can return anything; only these shapes pass.

Grammar from the distribution reference (github.com/distribution/reference) and the OCI
distribution spec: a tag is `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, a digest here is `sha256:` and
64 lowercase hex digits.
"""

from __future__ import annotations

import re

from imagebot.grammar import DOMAIN, MAX_NAME_LENGTH, PATH, is_tag
from imagebot.update.changes import PolicyValue

_NAME = re.compile(rf"(?:{DOMAIN}/)?{PATH}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")  # only sha256 is ever written


def is_image_name(value: str) -> bool:
    """A repository reference without tag or digest, e.g. `ghcr.io/org/app` or `nginx`."""
    return len(value) <= MAX_NAME_LENGTH and _NAME.fullmatch(value) is not None


def is_digest(value: str) -> bool:
    return _DIGEST.fullmatch(value) is not None


def refusal(value: PolicyValue) -> str | None:
    """Why this policy value must not be written, or None when it is safe."""
    if not is_image_name(value.image):
        return f"image name {value.image!r} is not a valid repository reference"
    if value.tag and not is_tag(value.tag):
        return f"tag {value.tag!r} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})"
    if value.digest is not None and not is_digest(value.digest):
        return f"digest {value.digest!r} is not a sha256 digest (sha256: and 64 lowercase hex digits)"
    return None


def parse_reference(text: str) -> PolicyValue:
    """Split `IMAGE[:TAG][@DIGEST]` (as given on the command line). Raises ValueError when invalid."""
    name, _, digest = text.partition("@")
    tag = ""
    colon = name.rfind(":")
    # a colon before the last slash belongs to a registry port, not a tag
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            raise ValueError(f"{text!r}: empty tag after ':'")
    if "@" in text and not digest:
        raise ValueError(f"{text!r}: empty digest after '@'")
    value = PolicyValue(image=name, tag=tag, digest=digest or None)
    problem = refusal(value)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return value
