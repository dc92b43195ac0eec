"""Housekeeping of the operations tables: the job queue's log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from umbrella.core import db

# Rows per DELETE: each statement is short, so it never holds its locks long or bloats WAL
# in one burst, and the queue's own writes to pgqueuer_log go on between batches.
PRUNE_BATCH_ROWS = 10_000


async def delete_old_queue_log(*, older_than: timedelta, batch_rows: int = PRUNE_BATCH_ROWS) -> int:
    """Delete queue log rows older than `older_than` in short batches; return how many went."""
    cutoff = datetime.now(UTC) - older_than
    deleted = 0
    while True:
        # Oldest first by id (the log is append-only); the rows of a job still in the
        # queue stay: a held job's error is read from them (`umbrella admin jobs list`).
        async with db.connection() as connection:
            status = await connection.execute(
                """
                WITH doomed AS (
                    SELECT l.id FROM pgqueuer_log l
                     WHERE l.created < $1
                       AND NOT EXISTS (SELECT 1 FROM pgqueuer q WHERE q.id = l.job_id)
                     ORDER BY l.id
                     LIMIT $2
                )
                DELETE FROM pgqueuer_log WHERE id IN (SELECT id FROM doomed)
                """,
                cutoff,
                batch_rows,
            )
        batch = int(status.split()[-1])  # "DELETE <n>"
        deleted += batch
        if batch < batch_rows:
            return deleted
