"""Commands never report success for work they did not do: `set` with an argument no marker names,
`history` on a state folder that does not exist, `plan --repo` on a missing folder; and every
option says what it does."""

from __future__ import annotations

import argparse
import hashlib
import textwrap
from pathlib import Path

import pytest

from imagebot.cli import build_parser, main

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: apps}
    spec:
      template:
        spec:
          containers:
            - name: web
              image: ghcr.io/acme/web:1.0.0 # {"$imagepolicy": "apps:web"}
            - name: api
              image: ghcr.io/acme/api:1.0.0 # {"$imagepolicy": "apps:api"}
    """)


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "deploy.yaml").write_text(DEPLOYMENT)
    return folder


def test_set_fails_for_a_policy_no_marker_names_and_lists_the_closest(manifests: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = (manifests / "deploy.yaml").read_bytes()
    assert main(["set", str(manifests), "apps:nope=ghcr.io/acme/web:1.1.0"]) == 1
    err = capsys.readouterr().err
    assert f"no marker under {manifests} names apps:nope: markers there name apps:api, apps:web" in err
    assert (manifests / "deploy.yaml").read_bytes() == before
    # a typo of a real policy: the closest comes first
    assert main(["set", str(manifests), "apps:wbe=ghcr.io/acme/web:1.1.0"]) == 1
    assert "names apps:wbe: markers there name apps:web, apps:api" in capsys.readouterr().err


def test_set_still_applies_the_others_but_fails_for_the_unmatched_one(manifests: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["set", str(manifests), "apps:web=ghcr.io/acme/web:1.1.0", "apps:gone=ghcr.io/acme/gone:1"])
    assert code == 1
    assert "ghcr.io/acme/web:1.1.0" in (manifests / "deploy.yaml").read_text()
    assert "names apps:gone" in capsys.readouterr().err


def test_set_with_a_matching_marker_already_up_to_date_succeeds(manifests: Path) -> None:
    assert main(["set", str(manifests), "apps:web=ghcr.io/acme/web:1.0.0"]) == 0


def test_set_in_a_tree_without_markers_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plain.yaml").write_text("a: b\n")
    assert main(["set", str(tmp_path), "apps:web=ghcr.io/acme/web:1.1.0"]) == 1
    assert "there are no $imagepolicy markers there" in capsys.readouterr().err


def test_history_with_a_missing_state_folder_fails_and_creates_nothing(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "sate"
    assert main(["history", "--state-dir", str(typo)]) == 1
    assert f"state folder {typo} does not exist" in capsys.readouterr().err
    assert not typo.exists()


def test_history_of_an_empty_state_folder_is_empty_without_creating_a_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--state-dir", str(tmp_path), "--output", "json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_plan_with_a_missing_repo_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).resolve().parents[2] / "policies"
    state = tmp_path / "state"
    assert main(["plan", "-c", str(config), "--repo", str(tmp_path / "missing"), "--state-dir", str(state)]) == 1
    assert f"--repo {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    assert not state.exists()


def test_validate_with_secrets_prints_each_receivers_webhook_path(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "r.yaml").write_text(textwrap.dedent("""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: web, namespace: apps}
        spec: {image: ghcr.io/acme/web, interval: 5m}
        ---
        apiVersion: notification.toolkit.fluxcd.io/v1
        kind: Receiver
        metadata: {name: registry, namespace: apps}
        spec: {type: generic, resources: [{kind: ImageRepository, name: web}], secretRef: {name: hook}}
        """))
    (tmp_path / "secrets" / "hook").mkdir(parents=True)
    (tmp_path / "secrets" / "hook" / "token").write_text("s3cret\n")
    args = ["validate", "-c", str(tmp_path / "config"), "--secrets-dir", str(tmp_path / "secrets")]
    assert main(args) == 0
    out = capsys.readouterr().out
    # Flux's Receiver path: sha256 of token + name + namespace
    expected = "/hook/" + hashlib.sha256(b"s3cret" + b"registry" + b"apps").hexdigest()
    assert f"Receiver apps/registry: webhook path {expected}" in out
    assert main([*args, "--output", "json"]) == 0
    assert expected in capsys.readouterr().out


def test_validate_without_secrets_names_the_config_not_a_dash(capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).resolve().parents[2] / "fixtures" / "bad-configs" / "_valid" / "config"
    assert main(["validate", "-c", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"note: {config}: secrets referenced" in err and "note: -:" not in err


def test_every_option_of_every_command_has_help() -> None:
    missing = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                missing.append(f"{prefix} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "imagebot")
    assert missing == []


def test_validate_of_only_invalid_objects_says_none_is_valid(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "repo.yaml").write_text(textwrap.dedent("""\
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: web, namespace: apps}
        spec: {image: nginx, interval: 5m, secretref: {name: regcred}}
        """))
    assert main(["validate", "-c", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert f"{tmp_path}: no valid objects: 1 error(s)" in captured.out
    assert "did you mean `secretRef`" in captured.err
