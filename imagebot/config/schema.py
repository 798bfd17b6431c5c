"""Flux's own CRD schemas (shipped in `schemas/`, see SOURCES.txt) as JSON Schema validators.

Each kind's OpenAPI v3 schema is read from the CRD Flux publishes, made strict (an unknown field
is an error, as `kubectl apply --validate=strict` makes it) and given imagebot's documented
extensions explicitly, so that nothing is loosened by accident. Names are Kubernetes names.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

_CRDS = {
    "ImageRepository": "image.toolkit.fluxcd.io_imagerepositories.yaml",
    "ImagePolicy": "image.toolkit.fluxcd.io_imagepolicies.yaml",
    "ImageUpdateAutomation": "image.toolkit.fluxcd.io_imageupdateautomations.yaml",
    "GitRepository": "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "Receiver": "notification.toolkit.fluxcd.io_receivers.yaml",
    "Provider": "notification.toolkit.fluxcd.io_providers.yaml",
    "Alert": "notification.toolkit.fluxcd.io_alerts.yaml",
}

# Kubernetes object names (RFC 1123 subdomain) and namespaces (RFC 1123 label).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# An approver: a Slack user ID (U…, W…) or an e-mail address.
APPROVER_PATTERN = r"^([UW][A-Z0-9]{2,20}|[^@\s]+@[^@\s]+\.[^@\s]+)$"
GIT_URL_PATTERN = r"^((http|https|ssh|file)://.*|/.*)$"
_NAME = {"type": "string", "minLength": 1, "maxLength": 253, "pattern": NAME_PATTERN}
_NAMESPACE = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": LABEL_PATTERN}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

# ObjectMeta as the API server accepts it in a manifest (a `kubectl get -o yaml` dump included).
_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _NAME,
        "namespace": _NAMESPACE,
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "generateName": {"type": "string"},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
        "selfLink": {"type": "string"},
    },
    "additionalProperties": False,
}

# What a pattern means, for messages: a user should not have to read a regular expression.
PATTERN_MEANINGS = {
    NAME_PATTERN: "a Kubernetes name (lowercase letters, digits, '-' and '.', starting and ending "
                  "with a letter or digit)",
    LABEL_PATTERN: "a Kubernetes namespace (lowercase letters, digits and '-')",
    r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$": "a duration such as 30s, 5m or 1h30m",
    r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$": "a duration in ms, s or m, such as 30s or 5m",
    APPROVER_PATTERN: "a Slack user ID (such as U0123ABCD) or an e-mail address",
    GIT_URL_PATTERN: "a URL starting with https://, http://, ssh:// or file://, or an absolute path",
    r"^(http|https)://.*$": "a URL starting with https:// or http://",
    r"^https?://": "a URL starting with https:// or http://",
    r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9.]+)?$": "a platform os/architecture[/variant] such as linux/arm64",
}


def _extensions(kind: str, spec: dict[str, Any]) -> None:
    """imagebot's documented extensions (README, "Fields follow Flux's API"), added explicitly."""
    props = spec["properties"]
    if kind == "ImagePolicy":
        semver = props["policy"]["properties"]["semver"]
        semver["properties"]["strict"] = {
            "type": "boolean", "description": "extension: false parses versions leniently (16, 3.19, 22.04)"}
        props["policy"]["properties"]["newestBuild"] = {
            "type": "object", "properties": {},
            "description": "extension: the tag whose image was built last (OCI created annotation, else config)"}
        props["minimumAge"] = {
            "type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$",
            "description": "extension: a tag qualifies once imagebot has known it this long"}
        props["platforms"] = {
            "type": "array", "maxItems": 32, "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9.]+)?$"},
            "description": "extension: a tag qualifies only if its image serves every listed os/architecture"}
    elif kind == "ImageUpdateAutomation":
        push = props["git"]["properties"]["push"]
        push["properties"]["pullRequest"] = {
            "type": "object",
            "description": "extension: open or update a pull request from push.branch into the checkout branch",
            "required": ["provider", "secretRef"],
            "properties": {
                # Flux's notification Provider types for these forges, and `forgejo`
                "provider": {"type": "string", "enum": ["github", "gitlab", "gitea", "forgejo", "bitbucket",
                                                        "bitbucketserver", "azuredevops"]},
                "url": {"type": "string", "pattern": r"^https?://"},
                "secretRef": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                "title": {"type": "string"},
                "body": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}},
                "reviewers": {"type": "array", "items": {"type": "string"}},
            },
        }
        props["schedule"] = {
            "type": "array",
            "description": "extension: delivery windows, cron expressions in a time zone; none: always open",
            "minItems": 1,
            "maxItems": 32,
            "items": {
                "type": "object",
                "required": ["cron"],
                "properties": {
                    "cron": {"type": "string", "minLength": 1, "maxLength": 200},
                    "timeZone": {"type": "string", "minLength": 1, "maxLength": 64},
                },
            },
        }
        props["approval"] = {
            "type": "object",
            "description": "extension: a computed change waits for approval (Slack, status page, CLI)",
            "properties": {
                "required": {"type": "boolean"},
                "approvers": {"type": "array", "maxItems": 100, "uniqueItems": True,
                              "items": {"type": "string", "minLength": 1, "maxLength": 254,
                                        "pattern": APPROVER_PATTERN}},
                "expiresAfter": {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"},
            },
        }
        signing = props["git"]["properties"]["commit"]["properties"]["signingKey"]
        signing["properties"].setdefault("type", {"type": "string", "enum": ["gpg", "ssh"]})
    elif kind == "GitRepository":
        # extension: a repository on this host (file:// or an absolute path), which Flux cannot reach
        props["url"]["pattern"] = GIT_URL_PATTERN


def _strict(node: Any, key: str = "") -> None:
    """Unknown fields are errors; every `*Ref.name` is a Kubernetes name (a secret's name is a folder)."""
    if isinstance(node, list):
        for item in node:
            _strict(item, key)
        return
    if not isinstance(node, dict):
        return
    props = node.get("properties")
    if isinstance(props, dict):
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        if key.endswith("Ref") and props.get("name", {}).get("type") == "string":
            props["name"] = {**props["name"], **_NAME}
            if "namespace" in props:
                props["namespace"] = {**props["namespace"], **_NAMESPACE}
        for name, child in props.items():
            _strict(child, name)
    for sub in ("items", "additionalProperties"):
        if isinstance(node.get(sub), dict):
            _strict(node[sub], key)


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The strict JSON Schema of `kind`: Flux's CRD schema with imagebot's extensions.

    Read from `schemas/strict.json` when that file was derived from these very CRDs and this very module
    (its `source` digest says so): parsing the CRDs' YAML costs about 10 ms a kind at every start.
    Otherwise (a CRD or this module changed since) derived here; `python -m imagebot.config.schema`
    writes the file again, and a test fails while it is stale.
    """
    prebuilt = _prebuilt()
    return prebuilt[kind] if prebuilt is not None else derive_schema(kind)


_PREBUILT = "strict.json"


def source_digest() -> str | None:
    """sha256 of every CRD file and of this module's source: what strict.json was derived from."""
    digest = hashlib.sha256()
    try:
        digest.update(Path(__file__).read_bytes())
    except OSError:  # no source beside the bytecode: always derive
        return None
    folder = resources.files("imagebot.config").joinpath("schemas")
    for kind in sorted(_CRDS):
        digest.update(f"\0{kind}\0".encode())
        digest.update(folder.joinpath(_CRDS[kind]).read_bytes())
    return digest.hexdigest()


@cache
def _prebuilt() -> dict[str, dict[str, Any]] | None:
    try:
        stored = json.loads(resources.files("imagebot.config").joinpath("schemas", _PREBUILT).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("source") != source_digest():
        return None
    kinds = stored.get("kinds")
    return kinds if isinstance(kinds, dict) and set(kinds) == set(_CRDS) else None


def write_prebuilt() -> Path:
    """Derive every kind's schema from the CRDs and write schemas/strict.json (run after changing either)."""
    path = Path(__file__).with_name("schemas") / _PREBUILT
    document = {"source": source_digest(), "kinds": {kind: derive_schema(kind) for kind in sorted(_CRDS)}}
    path.write_text(json.dumps(document, indent=None, separators=(",", ":"), sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def derive_schema(kind: str) -> dict[str, Any]:
    """The strict schema of `kind`, derived from Flux's CRD (YAML) and imagebot's extensions."""
    from ruamel.yaml import YAML

    text = resources.files("imagebot.config").joinpath("schemas", _CRDS[kind]).read_text(encoding="utf-8")
    crd = YAML(typ="safe").load(text)
    version = next(v for v in crd["spec"]["versions"] if v.get("storage")) if len(crd["spec"]["versions"]) > 1 \
        else crd["spec"]["versions"][0]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    spec = schema["properties"]["spec"]
    _extensions(kind, spec)
    _strict(spec, "spec")
    schema["properties"]["metadata"] = _METADATA
    # status is written by controllers: a manifest exported from a cluster may carry any of it
    schema["properties"]["status"] = {"type": "object"}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    schema["additionalProperties"] = False
    return copy.deepcopy(schema)  # shares nothing (_METADATA) with the other kinds, as one read from JSON


@cache
def validator(kind: str) -> Draft7Validator:
    return Draft7Validator(crd_schema(kind))


def kinds() -> tuple[str, ...]:
    return tuple(_CRDS)


if __name__ == "__main__":
    print(f"wrote {write_prebuilt()}")
