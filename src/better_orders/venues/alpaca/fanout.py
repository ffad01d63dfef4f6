"""One stream of items to any number of async iterators (the broker's order updates).

Items published while no iterator is open are held for the first one, so an update
that lands between a submit and the caller starting to listen is not lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

_END = object()


class Fanout:
    """Broadcast to every open iterator; items that arrive with none open wait for the first."""

    def __init__(self, hold: int = 10_000) -> None:
        self._queues: list[asyncio.Queue[Any]] = []
        self._held: deque[Any] = deque(maxlen=hold)
        self.closed = False

    def publish(self, item: Any) -> None:
        if not self._queues:
            self._held.append(item)
            return
        for queue in self._queues:
            queue.put_nowait(item)

    def close(self) -> None:
        self.closed = True
        for queue in self._queues:
            queue.put_nowait(_END)

    async def iterate(self) -> AsyncIterator[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for item in self._held:
            queue.put_nowait(item)
        self._held.clear()
        if self.closed:
            queue.put_nowait(_END)
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                yield item
        finally:
            if queue in self._queues:
                self._queues.remove(queue)
