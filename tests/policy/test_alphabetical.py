"""The alphabetical rule: Flux's alphabetical_test.go cases (image-reflector-controller debe2aa) and byte-wise order."""

import pytest

from imagebot.policy import PolicyError, build_policy

UBUNTU = ["16.04", "16.04.1", "16.10", "20.04", "20.10"]
NAMES = ["xenial", "yakkety", "zesty", "artful", "bionic"]
STAMPS = ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"]
RFC3339 = ["2021-01-08T21-18-21Z", "2020-05-08T21-18-21Z", "2021-01-08T19-20-00Z", "1990-01-08T00-20-00Z",
           "2023-05-08T00-20-00Z"]

CASES = [
    (UBUNTU, "asc", "20.10"),
    (UBUNTU, "desc", "16.04"),
    (NAMES, "asc", "zesty"),
    (NAMES, "desc", "artful"),
    (STAMPS, "asc", "1606364286"),
    (STAMPS, "desc", "1606234201"),
    (["rel-" + s for s in STAMPS], "asc", "rel-1606364286"),
    (RFC3339, "asc", "2023-05-08T00-20-00Z"),
    (RFC3339, "desc", "1990-01-08T00-20-00Z"),
    ([], "asc", None),
    (["Zeta", "alpha", "Alpha"], "asc", "alpha"),  # byte-wise: uppercase sorts before lowercase
    (["a", "é", "z"], "asc", "é"),  # UTF-8 bytes: é (0xC3 0xA9) after z
    (["9", "10"], "asc", "9"),  # not numbers
]


@pytest.mark.parametrize(("tags", "order", "expected"), CASES)
def test_latest(tags, order, expected):
    assert build_policy(alphabetical=order).latest(tags) == expected


@pytest.mark.parametrize("order", ["", "ASC", "Desc"])
def test_order_is_case_insensitive_and_defaults_to_asc(order):
    expected = "16.04" if order.lower() == "desc" else "20.10"
    assert build_policy(alphabetical=order).latest(UBUNTU) == expected


def test_unknown_order_is_an_error_naming_the_choices():
    with pytest.raises(PolicyError, match=r"alphabetical order 'newest' is not valid: expected 'asc' or 'desc'"):
        build_policy(alphabetical="newest")
