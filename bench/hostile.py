"""Benchmark: peak memory and wall time of `imagebot scan` against a hostile registry.

For each attack of tests/support/hostileregistry.py (endless, over-announced, gzip-bomb, dripping
and deeply nested bodies, a 500 storm with Retry-After: 99999, an endless page-link loop), one
`imagebot scan` of that repository beside a well-behaved one, with spec.timeout = --timeout.
Peak RSS is the child's own ru_maxrss (wait4); the run has a 3 GiB address-space cap.

Run: .venv/bin/python bench/hostile.py [--timeout 30] [--root DIR]
(--root: the checkout whose imagebot is run, e.g. an export of main to compare against.)
Writes bench/results/hostile.txt. Target: peak RSS under 150 MiB and time under spec.timeout + 5 s
for every attack.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from tests.support.hostileregistry import HostileRegistry, run_bounded, write_scan_config  # noqa: E402

ATTACKS = ["endless", "announced", "gzip_bomb", "drip", "deep_json", "storm_500", "link_loop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=30, help="spec.timeout in seconds (default 30)")
    parser.add_argument("--root", type=Path, default=PROJECT, help="the checkout whose imagebot runs")
    args = parser.parse_args()
    lines = [f"# bench/hostile.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  root={args.root}  "
             f"spec.timeout={args.timeout}s  python {platform.python_version()}",
             f"{'attack':<11} {'exit':>4} {'seconds':>8} {'peak RSS MiB':>13}  error"]
    registry = HostileRegistry().start()
    try:
        for attack in ATTACKS:
            bad = registry.add(f"team/{attack.replace('_', '-')}", attack)  # type: ignore[arg-type]
            good = registry.add("team/good", tags=["1.0.0", "2.0.0"])
            with tempfile.TemporaryDirectory() as folder:
                config = write_scan_config(Path(folder) / "config", {"bad": bad, "good": good},
                                           timeout=f"{args.timeout}s")
                result = run_bounded("scan", "-c", str(config), "--state-dir", str(Path(folder) / "state"),
                                     "--output", "json", timeout=args.timeout * 4 + 60, cwd=args.root)
            try:
                errors = {r["name"]: r["error"] for r in json.loads(result.stdout)["repositories"]}
                error = (errors.get("bad") or "").split(": ", 1)[-1]
            except (ValueError, KeyError):
                error = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            lines.append(f"{attack:<11} {result.returncode:>4} {result.seconds:>8.1f} {result.peak_rss_mib:>13.0f}  "
                         f"{error[:150]}")
            print(lines[-1], flush=True)
    finally:
        registry.close()
    out = HERE / "results" / "hostile.txt"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as file:
        file.write("\n".join(lines) + "\n\n")
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
