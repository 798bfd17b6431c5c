"""The numerical rule: Flux's numerical_test.go cases, ties, Go's number syntax, and tags that are not numbers."""

import pytest

from imagebot.policy import Outcome, PolicyError, build_policy

CASES = [
    (["-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"], "asc", "73"),
    (["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"], "desc", "-78"),
    (["47.40896403322944", "-27.8520927455902", "-27.930666514224427", "-31.352485948094568",
      "-50.41072694704882", "-21.962849842263736", "24.71884721436865", "-39.99177354004344",
      "53.47333823144817", "3.2008658570411086"], "asc", "53.47333823144817"),
    (["-65.27202780220686", "57.82948329142309", "22.40184684363291", "-86.36934305697784",
      "-90.29082099756083", "-12.041712603564264", "77.70488240399305", "-38.98425003883552",
      "16.06867070412028", "53.735674335181216"], "desc", "-90.29082099756083"),
    (["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"], "asc", "1606364286"),
    (["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"], "desc", "1606234201"),
    (["1"], "asc", "1"),
    (["1"], "desc", "1"),
    ([], "asc", None),
    # Flux fails the whole policy on these; imagebot skips the tags that are not numbers
    (["0", "1a", "b"], "asc", "0"),
    (["3", "latest", "0x10", "NaN", "Inf", "-Inf", "1e999", "1__000", "_1", " 4"], "asc", "3"),
    (["3", "latest", "nan", "-infinity"], "desc", "3"),
    (["latest", "main"], "asc", None),
    # equal numbers: the lexicographically smallest tag, in both orders
    (["1", "1.0", "01", "0.5"], "asc", "01"),
    (["2", "1.0", "1", "1e0"], "desc", "1"),
    (["0", "-0", "+0.0"], "asc", "+0.0"),
    ([".5", "5.", "5e-1"], "asc", "5."),
    (["1e3", "999.9"], "asc", "1e3"),
    # Go's strconv.ParseFloat syntax, as Flux reads numbers: underscores between digits, hex floats
    (["20240115_1200", "20240115"], "asc", "20240115_1200"),
    (["1_000", "999"], "asc", "1_000"),
    (["0x1p4", "15"], "asc", "0x1p4"),  # 16
    (["0x1.8p1", "2.5"], "asc", "0x1.8p1"),  # 3
    (["0x10", "1"], "asc", "1"),  # a hex number without a p exponent is not a number
    (["1e1_0", "1e9"], "asc", "1e1_0"),
    (["1_e5", "1e_5", "1_", "1._5", "2"], "asc", "2"),
]


@pytest.mark.parametrize(("tags", "order", "expected"), CASES)
def test_latest(tags, order, expected):
    policy = build_policy(numerical=order)
    assert policy.latest(tags) == expected
    assert policy.latest(list(reversed(tags))) == expected
    explained = policy.explain(tags)
    assert (explained[0].tag if explained and explained[0].rank == 1 else None) == expected


def test_tags_that_are_not_numbers_are_explained():
    tags = ["2", "latest", "1e999", "NaN", "-Infinity", "0x10", "1__0"]
    verdicts = {v.tag: v for v in build_policy(numerical="asc").explain(tags)}
    assert verdicts["2"].outcome is Outcome.SELECTED
    assert all(verdicts[tag].outcome is Outcome.NOT_A_NUMBER for tag in tags[1:])
    assert verdicts["latest"].detail == "not a number (as Go's strconv.ParseFloat reads numbers)"
    assert verdicts["1e999"].detail == "out of a float64's range"
    assert verdicts["NaN"].detail == verdicts["-Infinity"].detail == "NaN and infinities are skipped"
    assert verdicts["0x10"].detail == "a hexadecimal number needs a p exponent (0x1p4)"
    assert verdicts["1__0"].detail == "underscores may only stand between digits"


def test_unknown_order_is_an_error():
    with pytest.raises(PolicyError, match="numerical order 'up' is not valid"):
        build_policy(numerical="up")
