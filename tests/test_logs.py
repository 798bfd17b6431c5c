"""Structured logs: one line per event with its fields, in JSON or text, with secrets redacted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import logging, sys
from pathlib import Path
from imagebot.config import SecretStore
from imagebot.logs import setup_logging

setup_logging(sys.argv[1], "info")
token = SecretStore(Path(sys.argv[2])).read_text("git-auth", "password")
log = logging.getLogger("imagebot.cycle")
log.info("committed abc123 to main", extra={"automation": "apps/fleet", "commit": "abc123"})
log.error("push failed: https://bot:%s@git.example.com/fleet.git refused", token, extra={"automation": "apps/fleet"})
logging.getLogger("httpx").info("HTTP Request: GET https://example.com/?token=%s", token)
"""


def run(fmt: str, tmp_path: Path) -> list[str]:
    secret = tmp_path / "secrets" / "git-auth"
    secret.mkdir(parents=True)
    (secret / "password").write_text("s3cr3t-password-value\n")
    result = subprocess.run([sys.executable, "-c", SCRIPT, fmt, str(tmp_path / "secrets")], capture_output=True,
                            text=True, cwd=ROOT, timeout=60, check=True)
    return result.stderr.splitlines()


def test_json_lines_carry_fields_and_never_the_secret(tmp_path: Path) -> None:
    lines = run("json", tmp_path)
    assert len(lines) == 2  # httpx's per-request lines are below the level
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and first["logger"] == "imagebot.cycle"
    assert first["automation"] == "apps/fleet" and first["commit"] == "abc123"
    assert first["message"] == "committed abc123 to main" and first["time"].endswith("+00:00")
    assert second["level"] == "error" and "s3cr3t" not in second["message"] and "***" in second["message"]


def test_text_lines_end_with_their_fields(tmp_path: Path) -> None:
    lines = run("text", tmp_path)
    assert lines[0].endswith("info    imagebot.cycle: committed abc123 to main automation=apps/fleet commit=abc123")
    assert "s3cr3t" not in "\n".join(lines)

