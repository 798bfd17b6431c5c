"""`imagebot policy eval`, run as a real process and through main()."""

import json
import subprocess
import sys

import pytest

from imagebot.cli import main

TAGS = "1.0.0\nv1.2.0\nlatest\n1.3.0-rc.1\n\n  2.0.0  \n"


def run(*args: str, stdin: str = TAGS) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imagebot", "policy", "eval", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_selected_tag_alone_on_stdout_from_stdin():
    result = run("--semver", ">=1.0.0 <2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "v1.2.0\n", "")


def test_no_qualifying_tag_exits_1_and_says_why():
    result = run("--semver", ">=3")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no tag qualifies (semver >=3)" in result.stderr
    assert "3 out of range" in result.stderr and "1 prerelease" in result.stderr


def test_invalid_policy_exits_2():
    result = run("--semver", ">=1.0.0p")
    assert result.returncode == 2
    assert "semver range '>=1.0.0p' is not valid" in result.stderr


@pytest.mark.parametrize(("extract", "words"), [
    ("$tss", "does not have (it has 1, ts); write ${ts}s to put 's' right after group 'ts'"),
    ("$2", "names group '2'"),
])
def test_extract_naming_a_missing_group_exits_2(extract, words):
    result = run("--numerical", "asc", "--filter-pattern", r"^main-(?P<ts>\d+)", "--filter-extract", extract,
                 stdin="main-1\nmain-2\n")
    assert (result.returncode, result.stdout) == (2, "")
    assert "invalid policy" in result.stderr and words in result.stderr


def test_extract_naming_a_missing_group_in_a_file_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(POLICIES.replace("extract: '$ts'", "extract: '$ts_$ts'"))
    result = run("-f", str(path), "--policy", "app-main", stdin=FILE_TAGS)
    assert result.returncode == 2
    assert "names group 'ts_'" in result.stderr and "write ${ts}_" in result.stderr


@pytest.mark.parametrize("pattern", [r"a\Cb", "(?P<é>a)", "(" * 1001 + "a" + ")" * 1001])
def test_pattern_go_refuses_exits_2(pattern):
    result = run("--alphabetical", "asc", "--filter-pattern", pattern)
    assert result.returncode == 2
    assert "is not a valid regular expression for Go, as Flux reads it" in result.stderr


def test_explain_json(tmp_path):
    tags = tmp_path / "tags.txt"
    tags.write_text("main-1-10\nmain-2-30\nmain-3-20\nlatest\n")
    argv = ["--numerical", "asc", "--filter-pattern", r"^main-\d+-(?P<ts>\d+)$", "--filter-extract", "$ts",
            "--tags-file", str(tags), "--explain", "--output", "json"]
    result = run(*argv, stdin="")
    document = json.loads(result.stdout)
    assert result.returncode == 0
    assert document["selected"] == "main-2-30"
    assert document["policy"] == r"numerical asc, filter ^main-\d+-(?P<ts>\d+)$ -> $ts"
    assert [(v["tag"], v["outcome"], v["rank"]) for v in document["verdicts"]] == [
        ("main-2-30", "selected", 1), ("main-3-20", "ranked", 2), ("main-1-10", "ranked", 3),
        ("latest", "filtered_out", None),
    ]


def test_explain_text_lists_every_tag(tmp_path, capsys):
    tags = tmp_path / "tags.txt"
    tags.write_text("9\nlatest\n10\nx.sig\n")
    code = main(["policy", "eval", "--numerical", "asc", "--exclude", r"\.sig$", "--tags-file", str(tags),
                 "--explain"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[:2] for line in lines] == [["10", "selected"], ["9", "ranked"], ["latest", "not_a_number"],
                                                     ["x.sig", "excluded"]]


def test_loose_flag_reads_calendar_versions(tmp_path, capsys):
    tags = tmp_path / "tags.txt"
    tags.write_text("16.4\n9.6.24\n17\nlatest\n")
    assert main(["policy", "eval", "--semver", "*", "--loose", "--tags-file", str(tags)]) == 0
    assert capsys.readouterr().out == "17\n"


POLICIES = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: app
  namespace: apps
spec:
  image: ghcr.io/example/app
  interval: 5m
  exclusionList: ["-debug$"]
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app-stable
  namespace: apps
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: ">=1.0.0"
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app-main
  namespace: apps
spec:
  imageRepositoryRef:
    name: app
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
"""

FILE_TAGS = "1.0.0\n1.1.0\n1.2.0-debug\nmain-abc-100\nmain-def-200\nmain-fed-300-debug\n"


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES)
    return path


@pytest.mark.parametrize(("choice", "expected"), [("app-stable", "1.1.0"), ("apps/app-main", "main-def-200")])
def test_policy_from_file_with_its_repository_exclusions(policy_file, choice, expected):
    result = run("-f", str(policy_file), "--policy", choice, stdin=FILE_TAGS)
    assert (result.returncode, result.stdout) == (0, expected + "\n"), result.stderr


def test_several_policies_need_a_choice(policy_file):
    result = run("-f", str(policy_file), stdin=FILE_TAGS)
    assert result.returncode == 2
    assert "several ImagePolicies (apps/app-stable, apps/app-main)" in result.stderr
    assert "--policy" in result.stderr


def test_unknown_policy_name_lists_the_known_ones(policy_file):
    result = run("-f", str(policy_file), "--policy", "nope", stdin=FILE_TAGS)
    assert result.returncode == 2
    assert "no ImagePolicy 'nope'" in result.stderr and "apps/app-main" in result.stderr


def test_file_and_policy_flags_do_not_mix(policy_file):
    result = run("-f", str(policy_file), "--exclude", "x", stdin=FILE_TAGS)
    assert result.returncode == 2
    assert "--exclude cannot be combined with -f" in result.stderr


def test_invalid_policy_in_file_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(POLICIES.replace('range: ">=1.0.0"', 'range: ">=1.0.0p"'))
    result = run("-f", str(path), "--policy", "app-stable", stdin=FILE_TAGS)
    assert result.returncode == 2
    assert ">=1.0.0p" in result.stderr
