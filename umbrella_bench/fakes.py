"""The tests' fake Resend (`tests.fakes.resend`), served from a thread of its own.

The bench's own event loop only runs while it measures, but the worker may send email
(notifications of the apply scenario) at any time, so the fake needs a loop that is always
turning.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import TypeVar

from tests.fakes.base import FakeServer

THREAD_START_TIMEOUT_SECONDS = 10.0

Fake = TypeVar("Fake", bound=FakeServer)


@contextlib.contextmanager
def running_in_thread(fake: Fake) -> Iterator[Fake]:
    """Serve the fake from a thread of its own for as long as the block lasts."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failures: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(fake.start())
        except BaseException as error:  # reported to the caller by the main thread
            failures.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(fake.stop())
        loop.close()

    thread = threading.Thread(target=serve, name=f"bench-fake-{fake.name}", daemon=True)
    thread.start()
    if not ready.wait(THREAD_START_TIMEOUT_SECONDS) or failures:
        raise RuntimeError(f"the fake {fake.name} did not start: {failures[0] if failures else ''}")
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(THREAD_START_TIMEOUT_SECONDS)
