"""RegistryClients sharing a RegistryPool (the service: one short-lived client per scan) against a real
registry: each counts its own requests, they reuse one connection pool and TLS context, the per-host
limit holds for all of them together, and closing a client leaves the pool open for the next."""

from __future__ import annotations

import asyncio

from imagebot.registry import ImageReference, RegistryClient, RegistryPool
from tests.support.registry import copy_repository


def test_clients_of_one_pool_share_connections_and_the_host_limit_and_keep_their_own_figures(plain_registry):
    plain_registry.push_image("pool/app0", "1.0.0")
    for i in range(1, 12):
        copy_repository(plain_registry.storage_root, "pool/app0", f"pool/app{i}")
    options = plain_registry.access_options()
    images = [ImageReference.parse(plain_registry.image(f"pool/app{i}")) for i in range(12)]

    async def scenario() -> tuple[list[int], int, int, bool]:
        pool = RegistryPool(concurrency_per_host=2)
        slots = pool.slots(plain_registry.host)

        async def one(image: ImageReference) -> RegistryClient:
            async with RegistryClient(pool=pool) as client:  # a scan's own client
                assert await client.list_tags(image, options) == ["1.0.0"]
                return client

        clients = await asyncio.gather(*(one(image) for image in images))
        http = list(pool._clients.values())
        later = RegistryClient(pool=pool)  # a scan after the others closed their clients: the pool still works
        assert await later.list_tags(images[0], options) == ["1.0.0"]
        await later.aclose()
        open_after = not http[0].is_closed
        await pool.aclose()
        # the host limit is the pool's: every client waited on the same two slots
        sharing = sum(1 for c in clients if c._host(plain_registry.host).slots is slots)
        return [c.stats.total for c in clients], len(http), sharing, open_after and http[0].is_closed

    totals, http_clients, sharing, closed_with_the_pool = asyncio.run(scenario())
    assert totals == [1] * 12  # each client counted its one listing, not the others'
    assert http_clients == 1  # one httpx client (one TLS context, one connection pool) for all of them
    assert sharing == 12
    assert closed_with_the_pool
