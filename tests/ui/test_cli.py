"""`imagebot run`'s status page options: where the token comes from, and what is wrong with it."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from imagebot.cli.run import ui_settings
from imagebot.service.ui import PageAccess

ROOT = Path(__file__).resolve().parents[2]


def options(**values: object) -> argparse.Namespace:
    defaults = {"ui_token_file": None, "ui_token_secret": None, "ui_auth": "actions", "secrets_dir": None}
    return argparse.Namespace(**{**defaults, **values})


def test_no_token_means_no_actions() -> None:
    settings = ui_settings(options())
    assert settings.token is None and not settings.actions_enabled and settings.access is PageAccess.ACTIONS


def test_token_from_a_file_and_from_a_secret(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  a-long-enough-token-0001\n")
    assert ui_settings(options(ui_token_file=tmp_path / "token")).token == "a-long-enough-token-0001"
    (tmp_path / "secrets" / "ui").mkdir(parents=True)
    (tmp_path / "secrets" / "ui" / "token").write_text("a-long-enough-token-0002")
    settings = ui_settings(options(ui_token_secret="ui", secrets_dir=tmp_path / "secrets", ui_auth="all"))
    assert settings.token == "a-long-enough-token-0002" and settings.access is PageAccess.ALL


@pytest.mark.parametrize(("values", "message"), [
    ({"ui_token_file": Path("/nonexistent/token")}, "--ui-token-file /nonexistent/token: cannot read it"),
    ({"ui_token_secret": "missing"}, "--ui-token-secret: secret 'missing' is referenced but no secrets folder"),
    ({"ui_auth": "all"}, "--ui-auth all needs a token"),
])
def test_bad_token_options_say_what_is_wrong(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        ui_settings(options(**values))


def test_a_short_token_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("hunter2\n")
    with pytest.raises(ValueError) as caught:
        ui_settings(options(ui_token_file=tmp_path / "token"))
    assert "at least 16 characters" in str(caught.value) and "hunter2" not in str(caught.value)


def test_both_token_options_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give one"):
        ui_settings(options(ui_token_file=tmp_path / "t", ui_token_secret="ui"))


def test_the_service_does_not_start_with_a_bad_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short\n")
    (tmp_path / "config.yaml").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "imagebot", "run", "-c", str(tmp_path / "config.yaml"), "--state-dir",
         str(tmp_path / "state"), "--listen", "127.0.0.1:0", "--ui-token-file", str(tmp_path / "token")],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "error: --ui-token-file" in done.stderr and "at least 16 characters" in done.stderr
    assert "short" not in done.stderr.replace("--ui-token-file", "")
