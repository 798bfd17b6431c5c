"""Reading a tag the registry has just listed.

A tag list can name a tag a moment before its manifest can be read. distribution writes a tag's
index link before its current link (a tags/list in between shows the tag, a HEAD of it is 404),
and registries on eventually consistent object storage list before they serve. A scan started
by one push's webhook can land in that moment of the next push. So a 404 for a tag the same
scan listed is waited out a few times before it counts; one that outlasts the waits is real
(the tag was deleted since the listing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from imagebot.registry._errors import NotFound

T = TypeVar("T")

SETTLE_WAITS = (0.1, 0.3, 0.9)  # seconds: 1.3 s in all, well inside any scan's timeout


async def read_listed(read: Callable[[], Awaitable[T]], waits: tuple[float, ...] = SETTLE_WAITS) -> T:
    """`read()`, repeated after each of `waits` while it raises NotFound; the last NotFound is raised
    with a note that the tag was listed."""
    for wait in waits:
        try:
            return await read()
        except NotFound:
            await asyncio.sleep(wait)
    try:
        return await read()
    except NotFound as err:
        tries = len(waits) + 1
        raise NotFound(f"{err} (the tag was listed, and was still not found after {tries} tries "
                       f"over {sum(waits):.1f} s)", repository=err.repository, host=err.host) from err
