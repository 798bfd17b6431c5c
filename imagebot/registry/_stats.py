"""Request accounting for one client (one scan cycle): used by metrics and the benchmark."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """Responses by (host, status), transport failures by host, 429s and the total of requests sent."""

    by_host_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    total: int = 0
    seconds_by_host: dict[str, list[float]] = field(default_factory=dict)  # time to response headers
    # host -> time.monotonic() before which it asked not to be called again (its latest Retry-After):
    # the service's retry of a rate-limited scan waits at least that long
    resume_at: dict[str, float] = field(default_factory=dict)

    def record_response(self, host: str, status: int, seconds: float | None = None) -> None:
        self.by_host_status[(host, status)] += 1
        if seconds is not None:
            self.seconds_by_host.setdefault(host, []).append(seconds)
        self.total += 1
        if status == 429:
            self.rate_limited += 1

    def record_retry_after(self, host: str, seconds: float) -> None:
        self.resume_at[host] = max(self.resume_at.get(host, 0.0), time.monotonic() + seconds)

    def record_transport_error(self, host: str) -> None:
        self.transport_errors[host] += 1
        self.total += 1

    def requests_to(self, host: str) -> int:
        """Requests sent to `host` (host[:port]), answered or not."""
        answered = sum(n for (h, _), n in self.by_host_status.items() if h == host)
        return answered + self.transport_errors[host]
