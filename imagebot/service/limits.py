"""The bounds every HTTP request to the service is held to (sizes and times)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_body: int = 1024 * 1024
    max_head: int = 16 * 1024  # request line and headers together
    head_timeout: float = 10.0  # from connection (or previous response) to a complete head
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0  # idle time allowed between requests on one connection
    handler_timeout: float = 30.0
    max_connections: int = 256


# The probe and metrics port: tiny requests, no body, a few scrapers and the kubelet.
HEALTH_LIMITS = Limits(max_body=0, max_head=8 * 1024, head_timeout=5.0, body_timeout=5.0,
                       keepalive_timeout=15.0, handler_timeout=10.0, max_connections=64)
