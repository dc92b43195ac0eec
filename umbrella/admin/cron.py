"""`umbrella admin cron list|run`: each job's last runs, and running one now."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from umbrella.admin import runtime
from umbrella.config import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cron = commands.add_parser(
        "cron",
        help="see when each cron job last ran and succeeded; run one now",
        description="Cron jobs normally run as Kubernetes CronJobs (UTC). A run started here "
        "is recorded and locked like a scheduled one, so it never overlaps a scheduled run.",
    )
    actions = cron.add_subparsers(dest="cron_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every job with its schedule, last run and success")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_cron_list)
    run = actions.add_parser("run", help="run one job now, as its CronJob would")
    run.add_argument("job", metavar="JOB", help="the job name (see `umbrella admin cron list`)")
    run.set_defaults(func=cmd_cron_run)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


def cmd_cron_list(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.admin import service
        from umbrella.core.cron import all_cron_jobs

        jobs = {name: job.schedule for name, job in all_cron_jobs().items()}
        async with runtime.database(settings):
            statuses = await service.list_cron_status(jobs=jobs)
        if args.json:
            for status in statuses:
                print(
                    json.dumps(
                        {
                            "job": status.job,
                            "schedule": status.schedule,
                            "last_outcome": status.last_outcome,
                            "last_started_at": _iso(status.last_started_at),
                            "last_success_at": _iso(status.last_success_at),
                        }
                    )
                )
            return runtime.EXIT_OK
        print(f"{'JOB':<28} {'SCHEDULE (UTC)':<16} {'LAST RUN':<20} {'OUTCOME':<10} LAST SUCCESS")
        for status in statuses:
            print(
                f"{status.job:<28} {status.schedule:<16} {_when(status.last_started_at):<20} "
                f"{status.last_outcome or '-':<10} {_when(status.last_success_at)}"
            )
        return runtime.EXIT_OK

    return runtime.run("cron list", work)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def cmd_cron_run(args: argparse.Namespace) -> int:
    from umbrella.core.cron import all_cron_jobs, run_once

    registry = all_cron_jobs()
    if args.job not in registry:
        known = ", ".join(registry)
        print(
            f"umbrella admin cron run: unknown job {args.job!r}; known jobs: {known}",
            file=sys.stderr,
        )
        return runtime.EXIT_USAGE
    # The same run as `umbrella cron <job>` in its CronJob: recorded, and locked against
    # a scheduled run of the same job.
    return runtime.run("cron run", lambda settings: run_once(settings, args.job))
