"""Batch jobs of the accounts domain."""

from __future__ import annotations

from datetime import timedelta

from umbrella.accounts import service, signin
from umbrella.core.cron import CronContext, CronJob


async def sessions_cleanup(context: CronContext) -> str:
    # Keep a revoked or expired session a week, so "why was I signed out?" can be answered.
    deleted = await service.delete_expired_sessions(older_than=timedelta(days=7))
    # A sign-in attempt is useless once its 10 minutes are over; only the row would remain.
    states = await signin.delete_expired_oauth_states()
    return f"deleted {deleted} old sessions and {states} expired sign-in states"


CRON_JOBS = (
    CronJob(
        name="sessions-cleanup",
        schedule="15 3 * * *",
        description=(
            "Delete sessions that expired or were revoked over a week ago, and sign-in "
            "attempts (OAuth states) that expired unused."
        ),
        run=sessions_cleanup,
    ),
)
