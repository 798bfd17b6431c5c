"""`imagebot policy eval` with newestBuild, minimumAge and platforms: times and platforms from the tags file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TAGS = (
    "main-a\t2026-03-01T10:00:00Z\tlinux/amd64,linux/arm64\n"
    "main-b\t2026-03-02T10:00:00Z\tlinux/amd64\n"
    "main-c\t2026-02-01T10:00:00+01:00\tlinux/amd64,linux/arm64/v8\n"
    "latest\t2026-03-02T10:00:00Z\n"
    "sha-0a1b\t2026-03-02T10:00:00Z\n"
    "untimed\n"
)


def run(*args: str, stdin: str = TAGS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imagebot", "policy", "eval", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_newest_build_picks_the_latest_time_and_ties_go_to_the_greatest_tag() -> None:
    result = run("--newest-build")
    # main-b, latest and sha-0a1b were built at the same second: the greatest name wins
    assert (result.returncode, result.stdout) == (0, "sha-0a1b\n"), result.stderr
    assert run("--newest-build", "--filter-pattern", "^main-").stdout == "main-b\n"


def test_newest_build_explain_names_tags_without_a_time() -> None:
    result = run("--newest-build", "--explain", "--output", "json")
    document = json.loads(result.stdout)
    assert document["policy"] == "newestBuild" and document["selected"] == "sha-0a1b"
    verdicts = {v["tag"]: v for v in document["verdicts"]}
    assert verdicts["untimed"]["outcome"] == "no_build_time"
    assert verdicts["main-c"]["detail"] == "built 2026-02-01T09:00:00Z"  # +01:00, shown in UTC
    assert [verdicts[t]["rank"] for t in ("sha-0a1b", "main-b", "latest", "main-a", "main-c")] == [1, 2, 3, 4, 5]


def test_minimum_age_and_platforms_explained() -> None:
    result = run("--newest-build", "--filter-pattern", "^main-", "--minimum-age", "72h",
                 "--platform", "linux/arm64", "--now", "2026-03-04T09:00:00Z", "--explain")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["main-c"].split()[1] == "selected"  # arm64/v8 serves linux/arm64
    assert "too_new" in lines["main-a"] and "waits until 2026-03-04T10:00:00Z (minimumAge 72h)" in lines["main-a"]
    assert "missing_platform" in lines["main-b"]  # never qualifies, so it is not said to wait

    later = run("--newest-build", "--filter-pattern", "^main-", "--minimum-age", "72h",
                "--platform", "linux/arm64", "--now", "2026-03-06T00:00:00Z", "--explain")
    lines = {line.split()[0]: line for line in later.stdout.splitlines()}
    assert lines["main-a"].split()[1] == "selected"
    assert "lacks linux/arm64 (serves linux/amd64)" in lines["main-b"]


def test_minimum_age_on_semver_without_times_selects_nothing_and_says_why() -> None:
    result = run("--semver", ">=1", "--minimum-age", "1h", stdin="1.0.0\n1.1.0\n")
    assert result.returncode == 1
    assert "no tag qualifies (semver >=1, minimumAge 1h)" in result.stderr and "2 too new" in result.stderr


def test_bad_times_platforms_and_durations_exit_2_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tags.tsv"
    path.write_text("ok\t2026-03-01T10:00:00Z\nbad\tyesterday\n")
    result = run("--newest-build", "--tags-file", str(path))
    assert result.returncode == 2 and f"{path}:2: 'yesterday' is not an RFC 3339 time" in result.stderr
    bad_platform = run("--newest-build", stdin="a\t2026-03-01T10:00:00Z\tlinux-amd64\n")
    assert bad_platform.returncode == 2 and "stdin:1: platform 'linux-amd64' is not os/architecture" in \
        bad_platform.stderr
    assert run("--newest-build", "--minimum-age", "3 days").returncode == 2
    assert run("--newest-build", "--platform", "amd64").returncode == 2
    assert "--now: 'soon'" in run("--newest-build", "--now", "soon").stderr
    extract = run("--newest-build", "--filter-pattern", "^(?P<x>.*)$", "--filter-extract", "$x")
    assert extract.returncode == 2 and "filterTags.extract has no effect under newestBuild" in extract.stderr


def test_policy_file_brings_its_extensions(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: team}
spec:
  imageRepositoryRef: {name: app}
  policy: {newestBuild: {}}
  filterTags: {pattern: '^main-'}
  platforms: [linux/arm64]
""")
    result = run("-f", str(path))
    assert (result.returncode, result.stdout) == (0, "main-a\n"), result.stderr
    mixed = run("-f", str(path), "--platform", "linux/amd64")
    assert mixed.returncode == 2 and "--platform cannot be combined with -f" in mixed.stderr
