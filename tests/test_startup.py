"""Start-up time of the command line: what a command loads, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(done.stdout.split())


def test_the_cli_uses_httpx_without_loading_httpx_s_own_command_line() -> None:
    # validate loads the config package; then httpx is imported as a scan would, and still works
    modules = loaded_after(f"from imagebot.cli import main\n"
                           f"assert main(['validate', '-c', {str(ROOT / 'policies')!r}]) == 0\n"
                           "import httpx\nassert httpx.Client(trust_env=False).get\n")
    assert "httpx" in modules
    assert not modules & {"click", "pygments", "rich.console"}, modules & {"click", "pygments", "rich.console"}


CONFIG = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: team}
spec: {image: 127.0.0.1:5000/team/app, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: team}
spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: ">=1.0.0"}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: team}
spec: {url: "https://git.example.com/fleet.git", interval: 1h, ref: {branch: main}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: team}
spec:
  interval: 1h
  sourceRef: {kind: GitRepository, name: fleet}
  git: {commit: {author: {name: bot, email: bot@example.com}}, push: {branch: main}}
  update: {path: ./, strategy: Setters}
"""


def test_plan_loads_neither_jinja2_nor_the_notifiers_nor_git_delivery_for_a_config_without_them(
        tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(CONFIG)
    modules = loaded_after("from imagebot.cycle import AutomationError, apply_policies, policy_values\n"
                           "from imagebot.config import load_config\n"
                           f"assert not load_config(__import__('pathlib').Path({str(tmp_path)!r})).errors\n")
    unwanted = {"jinja2", "imagebot.notify", "imagebot.delivery.git"}
    assert "imagebot.cycle.sources" in modules
    assert not modules & unwanted, modules & unwanted


def test_plan_reads_no_cron_and_no_label_selector_code_for_a_config_without_them(tmp_path: Path) -> None:
    # APScheduler's cron triggers are a tenth of a second of start-up: only delivery windows need them
    (tmp_path / "fleet.yaml").write_text(CONFIG)
    modules = loaded_after("import argparse, pathlib\n"
                           "from imagebot.cli._common import load_or_report\n"
                           "from imagebot.cli.plan import _window_note\n"
                           f"args = argparse.Namespace(config=pathlib.Path({str(tmp_path)!r}), "
                           "watch_label_selector=None)\n"
                           "config = load_or_report(args)\n"
                           "assert [_window_note(a) for a in config.automations] == ['']\n")
    assert not modules & {"apscheduler", "imagebot.cycle.window", "imagebot.config.selector"}


def test_sniffio_is_installed_so_httpcore_finds_it_once() -> None:
    # httpcore imports sniffio on every request; were it absent, each attempt would search the whole
    # import path (encode/httpcore#1103): it is a declared dependency, imported once and kept.
    modules = loaded_after("import asyncio\n"
                           "from httpcore._synchronization import current_async_library\n"
                           "async def library():\n"
                           "    return current_async_library()\n"
                           "assert asyncio.run(library()) == 'asyncio'\n")
    assert "sniffio" in modules and "httpcore" in modules


def test_the_collector_is_off_during_start_up_only_and_main_leaves_it_as_it_found_it(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(CONFIG)
    (tmp_path / "broken.yaml").write_text("kind: ImagePolicy\napiVersion: image.toolkit.fluxcd.io/v1\n")
    loaded_after(
        "import gc\n"
        "import imagebot.cli._common as common\n"
        "from imagebot.cli import main\n"
        "seen = []\n"
        "common_started = common.started\n"
        "def started():\n"
        "    seen.append(gc.isenabled())\n"
        "    common_started()\n"
        "    seen.append((gc.isenabled(), gc.get_freeze_count() > 0))\n"
        "common.started = started\n"
        "import imagebot.cli.plan as plan\n"
        "plan.started = started\n"
        f"assert main(['plan', '-c', {str(tmp_path / 'broken.yaml')!r}, '--repo', {str(tmp_path)!r}]) == 1\n"
        "assert gc.isenabled() and gc.get_freeze_count() == 0 and seen == []\n"
        f"assert main(['validate', '-c', {str(tmp_path / 'fleet.yaml')!r}]) == 0\n"
        "assert gc.isenabled() and gc.get_freeze_count() == 0\n"
        "gc.disable()\n"
        f"main(['plan', '-c', {str(tmp_path / 'fleet.yaml')!r}, '--repo', {str(tmp_path)!r}, "
        f"'--state-dir', {str(tmp_path / 'state')!r}])\n"
        "assert seen == [False, (True, True)], seen\n"
        "assert not gc.isenabled() and gc.get_freeze_count() == 0\n"
    )
