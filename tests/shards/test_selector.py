"""--watch-label-selector: Kubernetes' label selector syntax, and what a shard takes from a config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from imagebot.config import load_config
from imagebot.config.selector import SelectorError, parse_selector, shard

KEY = "sharding.fluxcd.io/key"


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    (f"{KEY} in (shard1)", {KEY: "shard1"}, True),
    (f"{KEY} in (shard1)", {KEY: "shard2"}, False),
    (f"{KEY} in (shard1)", {}, False),
    (f"{KEY} in (shard1, shard2)", {KEY: "shard2"}, True),
    (f"{KEY} notin (shard1,shard2)", {}, True),  # the main instance takes unlabelled objects
    (f"{KEY} notin (shard1,shard2)", {KEY: "shard1"}, False),
    (f"{KEY} notin (shard1,shard2)", {KEY: "shard3"}, True),
    (KEY, {KEY: ""}, True),
    (KEY, {}, False),
    (f"!{KEY}", {}, True),
    (f"!{KEY}", {KEY: "x"}, False),
    ("tier=web", {"tier": "web"}, True),
    ("tier==web", {"tier": "web"}, True),
    ("tier=web", {"tier": "db"}, False),
    ("tier!=web", {}, True),
    ("tier!=web", {"tier": "web"}, False),
    ("tier=web,env in (prod,staging),!legacy", {"tier": "web", "env": "prod"}, True),
    ("tier=web,env in (prod,staging),!legacy", {"tier": "web", "env": "prod", "legacy": "1"}, False),
    ("tier=", {"tier": ""}, True),
])
def test_selector_matches_as_kubernetes_does(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector).matches(labels) is expected


@pytest.mark.parametrize(("selector", "message"), [
    ("", "empty label selector"),
    ("  ", "empty label selector"),
    (f"{KEY} in shard1", "expected '(' after in at column 27, found 'shard1'"),
    (f"{KEY} in (shard1", "expected ',' or ')' in the value list at the end"),
    ("tier=web,", "expected a label key"),
    ("tier=web env=prod", "expected ',' or the end at column 10, found 'env'"),
    ("Bad_Prefix/key=1", "expected a label key"),
    ("tier=" + "x" * 64, "expected a label value"),
    ("tier=a=b", "expected ',' or the end"),
    ("x" * 5000, "longer than 4096 bytes"),
])
def test_bad_selectors_are_refused_saying_where(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(selector)
    assert message in str(caught.value)


def test_selector_prints_back_as_written() -> None:
    text = f"{KEY} notin (shard1,shard2),tier=web,!legacy,env"
    assert str(parse_selector(text)) == text


def _objects(name: str, namespace: str, shard_of: dict[str, str]) -> str:
    def labels(kind: str) -> str:
        value = shard_of.get(kind)
        return f"labels: {{{KEY}: {value}}}" if value else "labels: {}"
    return textwrap.dedent(f"""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {{name: {name}, namespace: {namespace}, {labels("repo")}}}
        spec: {{image: 127.0.0.1:5000/{name}, interval: 1m, insecure: true}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImagePolicy
        metadata: {{name: {name}, namespace: {namespace}, {labels("policy")}}}
        spec:
          imageRepositoryRef: {{name: {name}}}
          policy: {{semver: {{range: ">=1.0.0"}}}}
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {{name: {name}, namespace: {namespace}}}
        spec: {{url: "file:///nowhere", interval: 1m, ref: {{branch: main}}}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageUpdateAutomation
        metadata: {{name: {name}, namespace: {namespace}, {labels("automation")}}}
        spec:
          interval: 1m
          sourceRef: {{kind: GitRepository, name: {name}}}
          git:
            commit: {{author: {{name: bot, email: bot@example.com}}}}
            push: {{branch: main}}
          update: {{path: ./, strategy: Setters}}
        """)


def test_shard_takes_its_objects_and_reports_references_across_shards(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_objects("a", "one", {"repo": "s1", "policy": "s1", "automation": "s1"}))
    (tmp_path / "b.yaml").write_text(_objects("b", "two", {}))
    (tmp_path / "c.yaml").write_text(_objects("c", "three", {"repo": "s2", "policy": "s1", "automation": "s2"}))
    loaded = load_config(tmp_path)
    assert loaded.errors == []

    part, problems = shard(loaded.config, parse_selector(f"{KEY} in (s1)"))
    assert sorted(p.key for p in part.repositories) == ["one/a"]
    assert sorted(p.key for p in part.policies) == ["one/a", "three/c"]
    assert sorted(a.key for a in part.automations) == ["one/a"]
    assert len(part.git_repositories) == 3  # where things go is shared by every shard
    [problem] = problems
    assert (problem.object, problem.field) == ("ImagePolicy three/c", "spec.imageRepositoryRef")
    assert "ImageRepository three/c, which is in another shard" in problem.message
    assert f"({KEY}=s2)" in problem.message and f"{KEY} in (s1)" in problem.message
    assert problem.file.endswith("c.yaml") and problem.line == 6  # where the object starts

    part, problems = shard(loaded.config, parse_selector(f"{KEY} notin (s1,s2)"))
    assert [r.key for r in part.repositories] == ["two/b"] and [a.key for a in part.automations] == ["two/b"]
    assert problems == []

    part, problems = shard(loaded.config, parse_selector(f"{KEY} in (s2)"))
    assert [(p.object, p.field) for p in problems] == [("ImageUpdateAutomation three/c", "spec.policySelector")]
    assert "ImagePolicy three/c, which is in another shard" in problems[0].message


def test_validate_reports_references_across_shards_and_bad_selectors(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from imagebot.cli import main  # the whole command line, as a user runs it

    (tmp_path / "c.yaml").write_text(_objects("c", "three", {"repo": "s2", "policy": "s1", "automation": "s1"}))
    assert main(["validate", "-c", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["validate", "-c", str(tmp_path), "--watch-label-selector", f"{KEY} in (s1)"]) == 1
    err = capsys.readouterr().err
    assert "ImagePolicy three/c: spec.imageRepositoryRef: refers to ImageRepository three/c, which is in another" in err
    assert main(["scan", "-c", str(tmp_path), "--watch-label-selector", f"{KEY} in s1"]) == 1
    assert "error: --watch-label-selector: label selector" in capsys.readouterr().err
