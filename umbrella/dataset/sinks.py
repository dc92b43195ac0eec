"""How the scale dataset is written: batched binary COPY per table, each step timed.

`DatasetReport` is what `umbrella seed --artists …` prints: rows and seconds per table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000  # rows per COPY: bounded memory, few round trips


@dataclass(frozen=True)
class TableLoad:
    """One step of the load: rows written (or changed) and its wall time."""

    name: str
    rows: int
    seconds: float


@dataclass
class DatasetReport:
    """What `load_dataset` wrote, step by step; `str()` is the table the CLI prints."""

    steps: list[TableLoad] = field(default_factory=list)
    total_seconds: float = 0.0

    def rows(self, name: str) -> int:
        return sum(step.rows for step in self.steps if step.name == name)

    def __str__(self) -> str:
        width = max([len(step.name) for step in self.steps] + [5])
        lines = [f"{'table':<{width}}  {'rows':>11}  {'seconds':>8}  {'rows/s':>9}"]
        for step in self.steps:
            rate = f"{step.rows / step.seconds:>9,.0f}" if step.seconds > 0 else f"{'-':>9}"
            lines.append(f"{step.name:<{width}}  {step.rows:>11,}  {step.seconds:>8.2f}  {rate}")
        lines.append(f"{'total':<{width}}  {'':>11}  {self.total_seconds:>8.2f}")
        return "\n".join(lines)


class Sink:
    """Rows for one table, copied in batches; a parent sink is flushed first (foreign keys)."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        table: str,
        columns: Sequence[str],
        *,
        parent: Sink | None = None,
    ) -> None:
        self.connection = connection
        self.table = table
        self.columns = tuple(columns)
        self.parent = parent
        self.buffer: list[tuple[Any, ...]] = []
        self.rows = 0
        self.seconds = 0.0

    def add(self, record: tuple[Any, ...]) -> bool:
        """Buffer a row; True when the batch is full and should be flushed."""
        self.buffer.append(record)
        return len(self.buffer) >= BATCH_ROWS

    async def flush(self) -> None:
        if self.parent is not None:
            await self.parent.flush()
        if not self.buffer:
            return
        started = time.perf_counter()
        await self.connection.copy_records_to_table(
            self.table, records=self.buffer, columns=self.columns
        )
        self.seconds += time.perf_counter() - started
        self.rows += len(self.buffer)
        self.buffer = []


class Phase:
    """Times a step; the sinks' own copy time is reported on their lines, the rest on the first."""

    def __init__(self, report: DatasetReport, sinks: Sequence[Sink]) -> None:
        self.report = report
        self.sinks = sinks
        self.started = time.perf_counter()

    async def finish(self) -> None:
        for sink in self.sinks:
            await sink.flush()
        elapsed = time.perf_counter() - self.started
        others = sum(sink.seconds for sink in self.sinks[1:])
        lead, *rest = self.sinks
        self.report.steps.append(TableLoad(lead.table, lead.rows, elapsed - others))
        for sink in rest:
            self.report.steps.append(TableLoad(sink.table, sink.rows, sink.seconds))
        log.info("bench dataset: %s", ", ".join(f"{s.table} {s.rows}" for s in self.sinks))


async def timed_statement(
    report: DatasetReport, connection: asyncpg.Connection, name: str, sql: str, *args: Any
) -> None:
    """One set-based statement, timed; its row count from the command tag."""
    started = time.perf_counter()
    status = await connection.execute(sql, *args)
    tail = status.rsplit(" ", 1)[-1]
    report.steps.append(
        TableLoad(name, int(tail) if tail.isdigit() else 0, time.perf_counter() - started)
    )
