from __future__ import annotations

import pytest

from imagebot.update import PolicyValue, is_digest, is_image_name, is_tag, parse_reference, refusal

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "name,ok",
    [
        ("nginx", True), ("library/nginx", True), ("ghcr.io/org/app", True),
        ("localhost:5000/a/b-c__d.e", True), ("[::1]:5000/app", True), ("Registry.Example.COM/app", True),
        ("GHCR.io/Org/App", False), ("app:v1", False), ("app@sha256:00", False), ("", False),
        ("a//b", False), ("-app", False), ("app-", False), ("a" * 256, False), ("app\nkind: Secret", False),
    ],
)
def test_image_names(name: str, ok: bool) -> None:
    assert is_image_name(name) is ok


@pytest.mark.parametrize(
    "tag,ok",
    [("v1.2.3", True), ("1.10", True), ("_x", True), ("A" * 128, True), ("A" * 129, False), ("-x", False),
     (".x", False), ("v1 ", False), ("v1\n", False), ("v1:2", False), ("", False), ("ünï", False)],
)
def test_tags(tag: str, ok: bool) -> None:
    assert is_tag(tag) is ok


@pytest.mark.parametrize(
    "digest,ok",
    [(DIGEST, True), ("sha256:" + "AB" * 32, False), ("sha512:" + "ab" * 64, False), ("sha256:abc", False)],
)
def test_digests(digest: str, ok: bool) -> None:
    assert is_digest(digest) is ok


def test_refusal_names_the_bad_part() -> None:
    assert refusal(PolicyValue("ghcr.io/org/app", "v1", DIGEST)) is None
    assert "tag" in (refusal(PolicyValue("ghcr.io/org/app", "v1 # x")) or "")
    assert "digest" in (refusal(PolicyValue("ghcr.io/org/app", "v1", "md5:00")) or "")
    assert "image name" in (refusal(PolicyValue("ghcr.io/org/app:v1", "v1")) or "")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ghcr.io/org/app:v2", PolicyValue("ghcr.io/org/app", "v2")),
        ("localhost:5000/app", PolicyValue("localhost:5000/app", "")),
        ("localhost:5000/app:1.0", PolicyValue("localhost:5000/app", "1.0")),
        (f"app:v2@{DIGEST}", PolicyValue("app", "v2", DIGEST)),
        (f"app@{DIGEST}", PolicyValue("app", "", DIGEST)),
    ],
)
def test_parse_reference(text: str, expected: PolicyValue) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", ["app:", "app@", "app:-bad", "App:v1", f"app:v1@{DIGEST[:-1]}"])
def test_parse_reference_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_reference(text)
