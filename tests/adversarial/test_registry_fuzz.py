"""Property-based fuzzing of everything that reads a registry's answers: tag lists, Link headers,
WWW-Authenticate challenges, manifests, digests, error bodies, Retry-After. Whatever a registry
sends, the result is a value or a clear ParseError, never another exception (a traceback)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagebot.redact import excerpt
from imagebot.registry._auth import Challenge, parse_challenge
from imagebot.registry._failures import error_detail
from imagebot.registry._media import parse_created, pick_platform
from imagebot.registry._parse import DIGEST, ParseError, digest, manifest, next_page, tag_list
from imagebot.retry import parse_retry_after

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CURRENT = httpx.URL("https://registry.example:5000/v2/team/app/tags/list?n=100")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
documents = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["tags", "name", "mediaType", "manifests", "config", "errors"]), json_values,
                    max_size=4).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(1, 5000).map(lambda depth: b'{"tags":' + b"[" * depth + b"]" * depth + b"}"),
)
link_parts = st.sampled_from(["<", ">", ";", ",", " ", "rel=", '"next"', "next", "=", '"', "/v2/x?last=a",
                              "https://other.example/v2", "http://registry.example:5000/v2", "//evil/", "\t",
                              "%zz", "[::1]", "rel=next;rel=prev", "\\", "ø", ":99999"])


@FUZZ
@given(documents)
def test_a_tag_list_is_a_list_of_strings_or_a_parse_error(body: bytes) -> None:
    try:
        tags = tag_list(body)
    except ParseError as err:
        assert str(err)
    else:
        assert isinstance(tags, list) and all(isinstance(t, str) for t in tags)


@FUZZ
@given(st.lists(st.lists(link_parts, max_size=12).map("".join) | st.text(max_size=80), max_size=3))
def test_a_link_header_gives_a_same_origin_page_or_none_or_a_parse_error(headers: list[str]) -> None:
    try:
        following = next_page(headers, CURRENT)
    except ParseError as err:
        assert str(err)
    else:
        if following is not None:
            assert (following.scheme, following.host, following.port) == ("https", "registry.example", 5000)


@FUZZ
@given(st.lists(st.sampled_from(["Bearer ", "Basic ", "realm=", "service=", "scope=", "error=", '"', "\\",
                                 ",", " ", "=", "https://auth.example/token", "x", "\x00", "ø"]), max_size=16)
       .map("".join) | st.text(max_size=120) | st.none())
def test_a_www_authenticate_challenge_parses_or_is_ignored(header: str | None) -> None:
    challenge = parse_challenge(header)
    assert challenge is None or (isinstance(challenge, Challenge) and challenge.scheme in ("bearer", "basic"))


@FUZZ
@given(documents, st.none() | st.text(max_size=60))
def test_a_manifest_is_an_object_or_a_parse_error(body: bytes, content_type: str | None) -> None:
    try:
        document = manifest(body, content_type, "tag '1.0'")
    except ParseError as err:
        assert str(err)
        return
    assert isinstance(document, dict)
    entries = document.get("manifests")
    if isinstance(entries, list):
        child = pick_platform(entries)
        assert child is None or isinstance(child, str)
    assert parse_created(document.get("created")) is None or document.get("created")


@FUZZ
@given(st.text(max_size=140) | st.from_regex(DIGEST, fullmatch=True))
def test_a_digest_is_valid_or_a_parse_error(value: str) -> None:
    try:
        checked = digest(value, "tag '1.0'")
    except ParseError as err:
        assert "invalid digest" in str(err)
    else:
        assert DIGEST.fullmatch(checked)


@FUZZ
@given(documents, st.integers(400, 599))
def test_an_error_body_gives_a_short_single_line_detail(body: bytes, status: int) -> None:
    detail = error_detail(httpx.Response(status, content=body))
    assert isinstance(detail, str) and len(detail) <= 240
    assert "\n" not in detail and "\r" not in detail


@FUZZ
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_an_excerpt_is_bounded_and_has_no_control_characters(body: Any) -> None:
    text = excerpt(body, 100)
    assert len(text) <= 100
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text)


@FUZZ
@given(st.none() | st.text(max_size=60) | st.sampled_from(["99999", "Wed, 21 Oct 2015 07:28:00 GMT",
                                                          "Mon, 99 Foo 99999 99:99:99 GMT", "1e9", "-1"]))
def test_retry_after_is_a_wait_or_none(value: str | None) -> None:
    wait = parse_retry_after(value)
    assert wait is None or wait >= 0
