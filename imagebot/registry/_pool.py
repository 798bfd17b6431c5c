"""What the RegistryClients of one long-running process share: connections, TLS contexts, host slots.

A service scans each repository with a short-lived RegistryClient of its own (its own 429 state,
tokens and credentials, read afresh from the secrets). What is costly to build, or means nothing
unless shared, lives here instead:
- the httpx clients, one per TLS material: building an SSL context with the system CAs costs
  about 40 ms of CPU, which at 500 scans a minute was a third of a core, and each client keeps
  its connections alive for the next scan of the same host;
- the per-host request slots (`concurrency_per_host`), which then bound the whole process rather
  than each scan: 2,000 repositories scanned at start-up make at most that many requests at a time
  to one registry, instead of 2,000 connections at once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

MAX_CLIENTS = 64  # distinct TLS materials kept; past it the least recently used client is dropped


class RegistryPool:
    """Shared connections and per-host slots; give it to each RegistryClient(pool=...), close it at the end."""

    def __init__(self, concurrency_per_host: int = 8) -> None:
        self.concurrency_per_host = concurrency_per_host
        self._clients: OrderedDict[tuple[object, ...], httpx.AsyncClient] = OrderedDict()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._dropped: list[httpx.AsyncClient] = []

    def slots(self, host: str) -> asyncio.Semaphore:
        """The request slots of one registry host, shared by every client of this pool."""
        slots = self._slots.get(host)
        if slots is None:
            slots = self._slots[host] = asyncio.Semaphore(self.concurrency_per_host)
        return slots

    def client(self, key: tuple[object, ...]) -> httpx.AsyncClient | None:
        found = self._clients.get(key)
        if found is not None:
            self._clients.move_to_end(key)
        return found

    def keep(self, key: tuple[object, ...], client: httpx.AsyncClient) -> None:
        self._clients[key] = client
        if len(self._clients) > MAX_CLIENTS:
            # Rotated certificates leave clients nobody asks for; a scan may still be using this one,
            # so it is closed with the pool, not now.
            self._dropped.append(self._clients.popitem(last=False)[1])
            del self._dropped[:-MAX_CLIENTS]  # older ones are left to the garbage collector

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *self._dropped]
        self._clients.clear()
        self._dropped.clear()
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> RegistryPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
