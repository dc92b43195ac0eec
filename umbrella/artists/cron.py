"""Batch jobs of the artists domain."""

from __future__ import annotations

from umbrella.core.cron import CronJob

CRON_JOBS: tuple[CronJob, ...] = ()
