"""Background tasks of a process: run beside a block and stopped with it, or retried with
backoff until something answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has finished unwinding."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def running_beside(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `work` as a task while the block runs; cancel it, and wait for it, when it ends."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        await cancel_and_wait(task)


async def retry_with_backoff(
    attempt: Callable[[], Awaitable[bool]], *, first_seconds: float, max_seconds: float
) -> None:
    """Call `attempt` after `first_seconds`, then twice as long after each False (at most
    `max_seconds` apart), until it returns True: done, or nothing left to retry."""
    delay = first_seconds
    while True:
        await asyncio.sleep(delay)
        if await attempt():
            return
        delay = min(delay * 2, max_seconds)
