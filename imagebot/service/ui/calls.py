"""The last calls each Receiver got, kept in memory for the status page (newest first, bounded)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

from imagebot.service.ui.source import HookCall

CALLS_PER_RECEIVER = 20
MAX_RECEIVERS = 2000  # beyond this, the receiver heard from least recently is forgotten


class HookCalls:
    """`record` is the hook endpoint's callback: receiver key, HTTP status, the answer's text."""

    def __init__(self, per_receiver: int = CALLS_PER_RECEIVER, max_receivers: int = MAX_RECEIVERS) -> None:
        self._per_receiver = per_receiver
        self._max_receivers = max_receivers
        self._calls: OrderedDict[str, deque[HookCall]] = OrderedDict()

    def record(self, receiver: str, status: int, reason: str) -> None:
        calls = self._calls.pop(receiver, None) or deque(maxlen=self._per_receiver)
        calls.appendleft(HookCall(time.time(), status, status < 400, reason[:500]))
        self._calls[receiver] = calls
        while len(self._calls) > self._max_receivers:
            self._calls.popitem(last=False)

    def calls(self, receiver: str) -> list[HookCall]:
        return list(self._calls.get(receiver, ()))
