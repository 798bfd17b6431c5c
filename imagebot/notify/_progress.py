"""Telling the dispatcher's caller the moment a notification may start to reach its receiver.

A contextvar, set per send task by the dispatcher and read by the request code just before the
request goes out: the caller's bookkeeping (a delivery's notification is `sending`) then starts as
late as it can, so a process killed before that point resends safely and one killed after it never
sends twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

_on_request: ContextVar[Callable[[], None] | None] = ContextVar("imagebot_notify_on_request", default=None)


def watch_requests(callback: Callable[[], None] | None) -> None:
    """In the current (task's) context: call `callback` before the next request goes out, once."""
    _on_request.set(callback)


def request_starting() -> None:
    """Called by the request code just before a notification request is sent."""
    callback = _on_request.get()
    if callback is not None:
        _on_request.set(None)
        callback()
