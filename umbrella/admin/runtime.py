"""What every `umbrella admin` command shares: settings, the database, exit codes, errors.

A command prints what it did on stdout and a failure on stderr as one line
`umbrella admin <command>: <reason>`; it exits 0 on success, 1 on failure, 2 on a usage
error and 78 on a missing or invalid setting (as every `umbrella` command does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from umbrella.config import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

Handler = Callable[[Any], int]


class AdminError(Exception):
    """A failure the operator can act on: printed as one line, exit code 1."""


def quiet_logs(func: Handler) -> Handler:
    """Keep INFO log lines out of an operator's terminal.

    Logs go to stderr (stdout carries the command's output) at WARNING and above;
    UMBRELLA_LOG_LEVEL=DEBUG (as in
    `kubectl exec … -- env UMBRELLA_LOG_LEVEL=DEBUG umbrella admin …`) keeps everything.
    """

    def run(args: Any) -> int:
        if os.environ.get("UMBRELLA_LOG_LEVEL", "").upper() != "DEBUG":
            os.environ["UMBRELLA_LOG_LEVEL"] = "WARNING"
        return func(args)

    return run


def load() -> Settings:
    """The settings, or exit 78 with the one line that names the bad setting."""
    from umbrella.startup import settings_or_exit

    # stdout carries the command's output (tables, --json lines); logs go to stderr.
    return settings_or_exit("admin", log_stream=sys.stderr)


def run(command: str, work: Callable[[Settings], Coroutine[Any, Any, int]]) -> int:
    """Load the settings, run one async command, turn known failures into exit code 1."""
    import asyncpg

    from umbrella.core.errors import AppError

    settings = load()
    try:
        return asyncio.run(work(settings))
    except (AdminError, AppError) as error:
        return fail(command, str(error))
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return fail(command, f"cannot reach postgres: {type(error).__name__}: {error}")


def list_size(text: str) -> int:
    """An argparse type for `--top`/`--limit`: how many rows to show, 1 to 1000."""
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return value


def fail(command: str, reason: str) -> int:
    print(f"umbrella admin {command}: {reason}", file=sys.stderr)
    return EXIT_FAILURE


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    """The Piccolo engine's pool on the configured database, for the command's duration."""
    from umbrella.core import db

    async with db.database(settings, application_name="umbrella-admin"):
        yield


def human_bytes(size: int) -> str:
    """1536 → '1.5 KiB': sizes an operator reads at a glance."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
