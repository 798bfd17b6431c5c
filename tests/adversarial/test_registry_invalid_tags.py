"""Tags outside the OCI tag grammar never win a selection: `scan` drops them, with one warning per
repository saying how many, and never stores them.

They used to be selected as latest (`ｚｚｚ` sorts after every ASCII tag, ` 9.9.9` reads as a version),
then refused when written, so the valid update never landed.
"""

from __future__ import annotations

import json
from pathlib import Path

from imagebot.store import Store
from tests.support.hostileregistry import HostileRegistry, run_bounded, write_scan_config

INVALID = ["ｚｚｚ", " 9.9.9", "zzz\n", "9.9.9 ", "-9.9.9", ".9.9.9", "9" * 129, "9.9.9\x00", "9.9.9:x"]


def test_invalid_tags_are_dropped_with_one_warning_per_repository(tmp_path: Path,
                                                                   hostile_registry: HostileRegistry) -> None:
    image = hostile_registry.add("team/app", tags=["1.0.0", *INVALID, "1.2.0", "zz"])
    config = write_scan_config(tmp_path / "config", {"app": image})
    text = (config / "imagebot.yaml").read_text()
    # a second policy on the same repository, alphabetical: `ｚｚｚ` and `zzz\n` would sort last
    alphabetical = {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                    "metadata": {"name": "alpha", "namespace": "team"},
                    "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"alphabetical": {"order": "asc"}}}}
    (config / "imagebot.yaml").write_text(text + f"---\n{json.dumps(alphabetical)}\n")
    state = tmp_path / "state"

    result = run_bounded("scan", "-c", str(config), "--state-dir", str(state), "--output", "json", timeout=60)

    assert result.returncode == 0, result.explain()
    report = json.loads(result.stdout)
    [repository] = report["repositories"]
    assert repository["tags"] == 3 and repository["invalidTags"] == len(INVALID)
    latest = {p["name"]: p["latest"]["tag"] for p in report["policies"]}
    assert latest == {"app": "1.2.0", "alpha": "zz"}
    warnings = [line for line in result.stderr.splitlines() if "invalid tag" in line]
    assert len(warnings) == 1, result.stderr
    assert f"{image}: the registry listed {len(INVALID)} invalid tags" in warnings[0]
    # nothing of them is stored for the next scan (or for a suspended repository) to pick up
    with Store(state) as store:
        record = store.tags(image)
    assert record is not None and sorted(record.tags) == ["1.0.0", "1.2.0", "zz"]
