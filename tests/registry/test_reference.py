"""Image references normalise as docker's distribution/reference does."""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagebot.registry import ImageReference, is_valid_tag

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "api_host", "repository", "tag", "digest", "normalised"),
    [
        ("nginx", "docker.io", "registry-1.docker.io", "library/nginx", None, None, "docker.io/library/nginx"),
        ("nginx:1.25", "docker.io", "registry-1.docker.io", "library/nginx", "1.25", None,
         "docker.io/library/nginx:1.25"),
        ("bitnami/redis", "docker.io", "registry-1.docker.io", "bitnami/redis", None, None,
         "docker.io/bitnami/redis"),
        ("docker.io/nginx", "docker.io", "registry-1.docker.io", "library/nginx", None, None,
         "docker.io/library/nginx"),
        ("index.docker.io/library/nginx:stable", "docker.io", "registry-1.docker.io", "library/nginx", "stable",
         None, "docker.io/library/nginx:stable"),
        ("localhost:5000/app", "localhost:5000", "localhost:5000", "app", None, None, "localhost:5000/app"),
        ("localhost/app:v1", "localhost", "localhost", "app", "v1", None, "localhost/app:v1"),
        ("127.0.0.1:5000/team/app:1.0.0-rc.1", "127.0.0.1:5000", "127.0.0.1:5000", "team/app", "1.0.0-rc.1",
         None, "127.0.0.1:5000/team/app:1.0.0-rc.1"),
        ("ghcr.io/org/app@" + DIGEST, "ghcr.io", "ghcr.io", "org/app", None, DIGEST, "ghcr.io/org/app@" + DIGEST),
        ("ghcr.io/org/app:v2@" + DIGEST, "ghcr.io", "ghcr.io", "org/app", "v2", DIGEST,
         "ghcr.io/org/app:v2@" + DIGEST),
        ("registry.example.com:8443/a/b/c", "registry.example.com:8443", "registry.example.com:8443", "a/b/c",
         None, None, "registry.example.com:8443/a/b/c"),
        ("my_org/app__x", "docker.io", "registry-1.docker.io", "my_org/app__x", None, None,
         "docker.io/my_org/app__x"),
    ],
)
def test_parse_normalises_like_docker(text, registry, api_host, repository, tag, digest, normalised):
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.api_host, ref.repository, ref.tag, ref.digest) == (
        registry, api_host, repository, tag, digest)
    assert str(ref) == normalised
    assert ImageReference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        (" nginx", "whitespace"),
        ("docker.io/Library/nginx", "must be lowercase"),
        ("nginx:-bad", "tag '-bad'"),
        ("nginx:" + "x" * 129, "1-128 characters"),
        ("nginx@sha256:123", "digest"),
        ("ghcr.io/org//app", "not a valid name"),
        ("ghcr.io/-org/app", "not a valid name"),
        ("bad_host.io:x/app", "not a valid registry host"),
        ("a" * 250 + ".io/" + "b" * 10, "longer than 255"),
    ],
)
def test_parse_rejects_with_a_clear_message(text, complaint):
    with pytest.raises(ValueError, match="invalid image reference") as caught:
        ImageReference.parse(text)
    assert complaint in str(caught.value)


def test_with_tag_keeps_the_repository():
    ref = ImageReference.parse("ghcr.io/org/app@" + DIGEST).with_tag("1.2.3")
    assert str(ref) == "ghcr.io/org/app:1.2.3"


@pytest.mark.parametrize(("tag", "valid"), [("1.0", True), ("_x", True), ("v1_2-3.4", True),
                                            (".hidden", False), ("a/b", False), ("x" * 129, False)])
def test_is_valid_tag(tag, valid):
    assert is_valid_tag(tag) is valid


_component = st.from_regex(r"[a-z0-9]{1,8}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,8}){0,2}", fullmatch=True)
_host = st.sampled_from(["ghcr.io", "localhost:5000", "registry.example.com:8443", "127.0.0.1:5000", "quay.io"])
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}", fullmatch=True)


@given(host=_host, path=st.lists(_component, min_size=1, max_size=3), tag=_tag)
def test_parse_keeps_every_part_of_a_valid_reference(host, path, tag):
    ref = ImageReference.parse(f"{host}/{'/'.join(path)}:{tag}")
    assert (ref.registry, ref.api_host, ref.repository, ref.tag) == (host, host, "/".join(path), tag)
    assert ImageReference.parse(str(ref)) == ref


def test_importing_the_package_does_not_load_the_http_stack():
    code = "import sys, imagebot.registry; print('httpx' in sys.modules, 'ssl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
