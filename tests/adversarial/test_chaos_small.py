"""bench/chaos.py in small: kill -9 inside the push, before and after the remote takes it (the random
kills are the benchmark's); afterwards nothing is corrupt, lost, unsettled or notified twice."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.support.gitremotes import isolated_git_home  # noqa: F401

BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def load_chaos():  # bench/ is scripts, not a package
    spec = importlib.util.spec_from_file_location("imagebot_bench_chaos", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_kills_inside_and_around_the_push_leave_nothing_corrupt_or_lost(
    tmp_path: Path, isolated_git_home: Path  # noqa: F811
) -> None:
    chaos = load_chaos()

    report = chaos.run_chaos(kills=3, seed=7, root=tmp_path, points=["post-receive", "pre-receive", "post-receive"])

    assert report.kills == 3
    assert report.kills_by_point["post-receive"] == 2 and report.kills_by_point["pre-receive"] == 1
    assert report.recoveries == 2, "each push killed after it landed is recorded by the next run"
    assert report.corrupt == [] and report.lost_records == [] and report.failed_runs == []
    assert report.lost_notifications == [] and report.duplicate_notifications == {}
    assert report.unsettled_intents == 0 and report.commits == report.recorded >= 3
    assert report.ok
