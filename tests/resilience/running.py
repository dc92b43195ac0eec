"""`umbrella api` and `umbrella worker` as real processes whose JSON log a test can read."""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.conftest import start_umbrella


@dataclass
class Running:
    """A started `umbrella` process; its output is read all along so a full pipe never blocks it."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> Running:
        running = cls(await start_umbrella(*args, env=env))
        running._reader = asyncio.create_task(running._read())
        return running

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    def events(self, message: str) -> list[dict[str, Any]]:
        """The JSON log events whose message is `message`."""
        found: list[dict[str, Any]] = []
        for line in self.lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("msg") == message:
                found.append(event)
        return found

    def output(self) -> str:
        return "\n".join(self.lines[-60:])

    async def stop(self) -> int:
        """SIGTERM, then the exit code (the output is read to its end)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 30)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)
        return code


async def wait_for_status(
    url: str, running: Running, *, status: int = 200, seconds: float = 30.0
) -> None:
    """Poll `url` until it answers `status`; fail at once if the process exits."""
    async with aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            assert running.process.returncode is None, f"exited early:\n{running.output()}"
            try:
                async with http.get(url) as response:
                    if response.status == status:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered {status}:\n{running.output()}")
