"""Bodies that never end, drip, lie about their length or inflate: `scan` stops at the limit.

Each run scans one hostile repository beside a well-behaved one. The hostile one fails with an
error naming the limit; the good one is still scanned; the process stays small (peak RSS from
wait4) and ends within spec.timeout. Without the limits an endless tag list grew `scan` to
gigabytes: the subprocess runs under an address-space cap so that failure shows as a test failure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.hostileregistry import HostileRegistry, run_bounded, write_scan_config

PEAK_RSS_MIB = 150  # `imagebot scan` itself is about 50 MiB; with an 8 MiB page limit it peaks near 65 MiB
TIMEOUT = 10  # spec.timeout, seconds


@pytest.mark.parametrize(("attack", "error"), [
    ("endless", r"larger than the limit of 8 MiB"),
    ("announced", r"announced a 10 GiB answer, over the limit of 8 MiB"),
    ("gzip_bomb", r"larger than the limit of 8 MiB"),
    ("drip", r"still sending its answer|stopped when 10s \(spec.timeout\) ran out"),
    ("deep_json", r"nested too deeply"),
])
def test_a_hostile_body_fails_its_repository_within_limits(tmp_path: Path, hostile_registry: HostileRegistry,
                                                          attack: str, error: str) -> None:
    bad = hostile_registry.add("team/bad", attack)
    good = hostile_registry.add("team/good", tags=["1.0.0", "2.0.0"])
    config = write_scan_config(tmp_path / "config", {"bad": bad, "good": good}, timeout=f"{TIMEOUT}s")

    result = run_bounded("scan", "-c", str(config), "--state-dir", str(tmp_path / "state"), "--output", "json",
                         timeout=90)

    assert result.returncode == 1, result.explain()
    assert "Traceback" not in result.stderr, result.explain()
    assert result.peak_rss_mib < PEAK_RSS_MIB, result.explain()
    assert result.seconds < TIMEOUT + 15, result.explain()
    report = json.loads(result.stdout)
    repositories = {r["name"]: r for r in report["repositories"]}
    assert repositories["good"]["error"] is None and repositories["good"]["tags"] == 2
    policies = {p["name"]: p for p in report["policies"]}
    assert policies["good"]["latest"]["tag"] == "2.0.0"
    assert policies["bad"]["latest"] is None
    message = repositories["bad"]["error"]
    assert message.startswith(f"{bad}: "), message
    assert re.search(error, message), message
