"""Batch jobs of gig alerts."""

from __future__ import annotations

from umbrella.alerts import digest
from umbrella.core.cron import CronContext, CronJob


async def gig_alerts(context: CronContext) -> str:
    report = await digest.send_digests(settings=context.settings)
    return (
        f"looked for new gigs for {report.artists} artists with alerts; sent {report.digests}"
        f" digests ({report.texted} also by text)"
    )


CRON_JOBS = (
    CronJob(
        name="gig-alerts",
        schedule="0 14 * * *",
        description=(
            "Email each artist with alerts one digest of the new open gigs matching them "
            "(urgent ones also by text if asked), once a day, never the same gig twice."
        ),
        run=gig_alerts,
    ),
)
