"""Tasks an owner starts and does not await: `TaskSet`.

asyncio keeps only a weak reference to a running task, so whoever starts one must hold it
until it ends, hear how it failed, and cancel what is left when it stops. The connection,
the session and the upstream link each start such tasks; this is the one place that does
that bookkeeping, each owner saying what a failure means to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class TaskSet:
    """The running tasks of one owner: held until they end, cancelled together."""

    __slots__ = ("_failed", "_tasks")

    def __init__(self, failed: Callable[[BaseException], None]) -> None:
        """`failed` hears the exception of each task that ended with one (not cancelled)."""
        self._failed = failed
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        """The tasks still running."""
        return len(self._tasks)

    def start(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run `coro` in a task of its own, held until it ends."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self._failed(error)

    def cancel(self) -> list[asyncio.Task[Any]]:
        """Cancel every running task; return them (they end at their next await)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def cancel_and_wait(self) -> None:
        """Cancel every running task and wait until all have ended."""
        if tasks := self.cancel():
            await asyncio.gather(*tasks, return_exceptions=True)
