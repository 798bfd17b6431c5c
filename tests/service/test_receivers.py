"""Flux Receiver rules, checked on `verify` directly: paths, signatures, payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from imagebot.service.receivers import (
    DISTRIBUTION_EVENTS_TYPE,
    HookError,
    PushedImage,
    ReceiverSettings,
    ReceiverType,
    ResourceRef,
    hook_path,
    verify,
)

TOKEN = "s3cr3t-token"


def settings(kind: ReceiverType | str, events: tuple[str, ...] = ()) -> ReceiverSettings:
    return ReceiverSettings(
        "r", "flux-system", kind, TOKEN, [ResourceRef("ImageRepository", "podinfo")], events=events
    )


def sign(body: bytes, algo: str = "sha256", key: str = TOKEN) -> str:
    return f"{algo}=" + hmac.new(key.encode(), body, algo).hexdigest()


def refused(kind: ReceiverType, headers: dict[str, str], body: bytes, method: str = "POST") -> HookError:
    with pytest.raises(HookError) as e:
        verify(settings(kind), method, headers, body)
    return e.value


# --- the path -------------------------------------------------------------------------


def test_path_is_flux_sha256_of_token_name_namespace() -> None:
    token, name, namespace = "s3cr3t-token", "github-receiver", "flux-system"
    expected = "/hook/" + hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()
    assert hook_path(token, name, namespace) == expected
    # Pinned with coreutils: printf '%s' "s3cr3t-tokengithub-receiverflux-system" | sha256sum
    assert expected == "/hook/d186a226f9f47d7dad4311db516a3bc49a189ec30a9f837eaf0d9c7f4cd4b12d"


def test_path_changes_with_each_part() -> None:
    base = hook_path("t", "n", "ns")
    assert len({base, hook_path("t2", "n", "ns"), hook_path("t", "n2", "ns"), hook_path("t", "n", "ns2")}) == 4


def test_settings_hide_the_token_and_name_bad_types() -> None:
    s = settings(ReceiverType.GITHUB)
    assert TOKEN not in repr(s)
    assert s.path == hook_path(TOKEN, "r", "flux-system")
    with pytest.raises(ValueError, match=r"type 'gcr' is not supported \(use one of generic, generic-hmac"):
        settings("gcr")
    with pytest.raises(ValueError, match="token"):
        ReceiverSettings("r", "ns", "generic", "")


def test_resources_default_to_the_receiver_namespace() -> None:
    s = ReceiverSettings(
        "r", "apps", "generic", TOKEN, [ResourceRef("ImageRepository", "a"), ResourceRef("ImageRepository", "b", "x")]
    )
    result = verify(s, "POST", {}, b"")
    assert result.resources == [ResourceRef("ImageRepository", "a", "apps"), ResourceRef("ImageRepository", "b", "x")]


def test_only_post_is_accepted() -> None:
    assert refused(ReceiverType.GENERIC, {}, b"", method="GET").status == 405


# --- generic-hmac, github, bitbucket ----------------------------------------------------


@pytest.mark.parametrize("algo", ["sha1", "sha256", "sha512"])
def test_generic_hmac_accepts_each_hash(algo: str) -> None:
    body = b'{"any": "thing"}'
    result = verify(settings(ReceiverType.GENERIC_HMAC), "POST", {"X-Signature": sign(body, algo)}, body)
    assert result.resources == [ResourceRef("ImageRepository", "podinfo", "flux-system")]


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing"),
        ("md5=00", "must be sha1=, sha256= or sha512="),
        ("sha256=zz", "not hexadecimal"),
        (sign(b"other body"), "does not match"),
        (sign(b"{}", key="wrong-token"), "does not match"),
    ],
)
def test_generic_hmac_refuses_bad_signatures(signature: str | None, reason: str) -> None:
    headers = {"X-Signature": signature} if signature else {}
    err = refused(ReceiverType.GENERIC_HMAC, headers, b"{}")
    assert (err.status, reason in err.message) == (401, True)
    assert TOKEN not in err.message


def test_github_form_encoded_payload_and_sha1_header() -> None:
    body = urlencode({"payload": json.dumps({"ref": "refs/heads/main"})}).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-hub-signature": sign(body, "sha1"),
        "x-github-event": "push",
    }
    result = verify(settings(ReceiverType.GITHUB, events=("PUSH",)), "POST", headers, body)
    assert (result.event, result.ignored, len(result.resources)) == ("push", None, 1)


def test_github_prefers_the_sha256_header() -> None:
    body = b"{}"
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, key="wrong"),
        "X-Hub-Signature": sign(body, "sha1"),
        "X-GitHub-Event": "push",
    }
    assert refused(ReceiverType.GITHUB, headers, body).status == 401


def test_github_needs_json_or_form() -> None:
    body = b"{}"
    headers = {"Content-Type": "text/plain", "X-Hub-Signature-256": sign(body), "X-GitHub-Event": "push"}
    err = refused(ReceiverType.GITHUB, headers, body)
    assert (err.status, "Content-Type" in err.message) == (400, True)


def test_github_ping_and_filtered_events_trigger_nothing() -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
    s = settings(ReceiverType.GITHUB, events=("push",))
    ping = verify(s, "POST", {**headers, "X-GitHub-Event": "ping"}, body)
    assert (ping.resources, ping.ignored) == ([], "ping")
    issue = verify(s, "POST", {**headers, "X-GitHub-Event": "issues"}, body)
    assert issue.resources == [] and "not in spec.events" in (issue.ignored or "")


def test_bitbucket_uses_hub_signature_and_event_key() -> None:
    body = b'{"changes": []}'
    headers = {"Content-Type": "application/json", "X-Hub-Signature": sign(body), "X-Event-Key": "repo:refs_changed"}
    ok = verify(settings(ReceiverType.BITBUCKET, events=("repo:refs_changed",)), "POST", headers, body)
    assert ok.event == "repo:refs_changed" and ok.ignored is None


# --- token headers ----------------------------------------------------------------------


def test_gitlab_token_and_event_filter() -> None:
    s = settings(ReceiverType.GITLAB, events=("Push Hook", "Tag Push Hook"))
    ok = verify(s, "POST", {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "tag push hook"}, b"{}")
    assert ok.ignored is None and ok.event == "tag push hook"
    skipped = verify(s, "POST", {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Issue Hook"}, b"{}")
    assert skipped.ignored and skipped.resources == []
    assert refused(ReceiverType.GITLAB, {"X-Gitlab-Token": TOKEN + "x"}, b"{}").status == 401
    assert refused(ReceiverType.GITLAB, {}, b"{}").status == 401


def test_harbor_authorization_is_the_token_and_push_is_read() -> None:
    body = json.dumps({
        "type": "PUSH_ARTIFACT",
        "event_data": {
            "resources": [{"digest": "sha256:" + "a" * 64, "tag": "1.2.3",
                           "resource_url": "harbor.example.com:8443/team/app:1.2.3"}],
            "repository": {"name": "app", "namespace": "team", "repo_full_name": "team/app"},
        },
    }).encode()
    result = verify(settings(ReceiverType.HARBOR), "POST", {"Authorization": TOKEN}, body)
    assert result.pushed == [PushedImage("team/app", "1.2.3", "harbor.example.com:8443", "sha256:" + "a" * 64)]
    assert refused(ReceiverType.HARBOR, {"Authorization": f"Bearer {TOKEN}"}, body).status == 401


# --- registry payloads ------------------------------------------------------------------


def test_dockerhub_payload() -> None:
    body = json.dumps({
        "push_data": {"pushed_at": 1417566161, "pusher": "trustedbuilder", "tag": "latest"},
        "repository": {
            "repo_name": "svendowideit/testhook",
            "repo_url": "https://registry.hub.docker.com/u/svendowideit/testhook/",
        },
    }).encode()
    result = verify(settings(ReceiverType.DOCKERHUB), "POST", {}, body)
    assert result.pushed == [PushedImage("svendowideit/testhook", "latest", "docker.io")]
    assert refused(ReceiverType.DOCKERHUB, {}, b'{"push_data": "x"}').status == 400
    assert refused(ReceiverType.DOCKERHUB, {}, b"not json").status == 400


def test_quay_payload() -> None:
    body = json.dumps({
        "repository": "mynamespace/repository",
        "docker_url": "quay.io/mynamespace/repository",
        "updated_tags": ["latest", "v2"],
    }).encode()
    result = verify(settings(ReceiverType.QUAY), "POST", {}, body)
    assert result.pushed == [
        PushedImage("mynamespace/repository", "latest", "quay.io"),
        PushedImage("mynamespace/repository", "v2", "quay.io"),
    ]
    assert refused(ReceiverType.QUAY, {}, b'{"updated_tags": "latest"}').status == 400


def test_acr_payload() -> None:
    body = json.dumps({
        "action": "push",
        "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                   "digest": "sha256:" + "b" * 64, "repository": "hello-world", "tag": "v1"},
        "request": {"host": "myregistry.azurecr.io", "method": "PUT"},
    }).encode()
    result = verify(settings(ReceiverType.ACR), "POST", {}, body)
    assert result.pushed == [PushedImage("hello-world", "v1", "myregistry.azurecr.io", "sha256:" + "b" * 64)]


def envelope(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def event(action: str, media_type: str, tag: str | None = None, repository: str = "team/app") -> dict:
    target = {"mediaType": media_type, "repository": repository, "digest": "sha256:" + "c" * 64}
    if tag:
        target["tag"] = tag
    return {"action": action, "target": target, "request": {"host": "registry.local:5000", "method": "PUT"}}


MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DISTRIBUTION = {"Content-Type": DISTRIBUTION_EVENTS_TYPE}


def test_distribution_envelope_reports_manifest_pushes_only() -> None:
    body = envelope(
        event("push", "application/octet-stream"),  # a layer upload
        event("pull", MANIFEST, "1.0"),
        event("push", MANIFEST, "1.1"),
        event("push", MANIFEST, "1.1"),  # sent twice: reported once
        event("push", "application/vnd.oci.image.index.v1+json", repository="team/multi"),
    )
    result = verify(settings(ReceiverType.GENERIC), "POST", DISTRIBUTION, body)
    digest = "sha256:" + "c" * 64
    assert result.event == "distribution"
    assert result.pushed == [
        PushedImage("team/app", "1.1", "registry.local:5000", digest),
        PushedImage("team/multi", None, "registry.local:5000", digest),
    ]


def test_distribution_envelope_without_manifest_push_triggers_nothing() -> None:
    body = envelope(event("push", "application/octet-stream"), event("pull", MANIFEST, "1.0"))
    result = verify(settings(ReceiverType.GENERIC), "POST", DISTRIBUTION, body)
    assert result.resources == [] and result.ignored


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"events": {}}', b'{"events": [{"action": "push", "target": 3}]}'])
def test_distribution_envelope_malformed_is_400(body: bytes) -> None:
    assert refused(ReceiverType.GENERIC, DISTRIBUTION, body).status == 400


def test_generic_reads_no_body() -> None:
    result = verify(settings(ReceiverType.GENERIC), "POST", {"Content-Type": "text/plain"}, b"\x00 anything")
    assert (len(result.resources), result.pushed, result.ignored) == (1, [], None)
