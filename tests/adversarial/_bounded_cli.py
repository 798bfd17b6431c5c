"""Run an imagebot command in a child process with bounded memory and time, and report its peak RSS."""

from __future__ import annotations

import resource
import subprocess
import sys
from dataclasses import dataclass

# The child prints its own peak RSS: RUSAGE_CHILDREN would mix in every earlier child of pytest.
_WRAPPER = (
    "import resource, sys\n"
    "from imagebot.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)
MEMORY_CAP = 2 * 1024**3  # a regression fails the test instead of taking the machine down


@dataclass(frozen=True)
class Bounded:
    returncode: int
    stdout: str
    stderr: str
    maxrss_mb: float


def run_bounded(*args: str, timeout: float = 120) -> Bounded:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    done = subprocess.run([sys.executable, "-c", _WRAPPER, *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, check=False)
    marker = [line for line in done.stderr.splitlines() if line.startswith("maxrss_kb=")]
    rss = int(marker[-1].split("=")[1]) / 1024 if marker else float("nan")
    return Bounded(done.returncode, done.stdout, done.stderr, rss)
