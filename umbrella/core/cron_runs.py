"""The record of cron runs (`cron_runs`), written by `umbrella.core.cron` around every run.

The table lives beside the code that writes it, so core imports no domain; the ops Piccolo
app still lists it, and its migrations stay in migrations/ops.
"""

from piccolo.columns import UUID, Text, Timestamptz, Varchar
from piccolo.constraints import Check
from piccolo.table import Table


class CronRun(Table, tablename="cron_runs"):
    """One execution of `umbrella cron <job>`: when it ran and how it ended."""

    id = UUID(primary_key=True)
    job = Varchar(length=64)
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    outcome = Varchar(length=16, default="running")
    error = Text(null=True, default=None)

    cron_runs_outcome_check = Check("outcome IN ('running', 'succeeded', 'failed')")
