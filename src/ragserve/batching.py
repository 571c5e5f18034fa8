"""Coalesce concurrent calls into batches: the requests that arrive while one batch runs form the next.

Under load this turns N concurrent query embeddings (or vector searches) into one model call, with no
added wait when idle: a lone request runs at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class Coalescer(Generic[K, I, R]):
    """Runs ``fn(key, items)`` for batches of items that share a key; each caller gets its own result."""

    def __init__(self, fn: Callable[[K, list[I]], Awaitable[list[R]]], max_batch: int = 64) -> None:
        self._fn = fn
        self._max = max_batch
        self._pending: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._running: set[K] = set()

    async def submit(self, key: K, item: I) -> R:
        """Queue one item and wait for its result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((item, future))
        if key not in self._running:
            self._running.add(key)
            asyncio.get_running_loop().create_task(self._drain(key))
        return await future

    async def _drain(self, key: K) -> None:
        try:
            while self._pending.get(key):
                batch = self._pending[key][: self._max]
                self._pending[key] = self._pending[key][self._max :]
                try:
                    results = await self._fn(key, [item for item, _ in batch])
                except Exception as exc:  # every waiter of the batch gets the error
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._running.discard(key)
            if not self._pending.get(key):
                self._pending.pop(key, None)
