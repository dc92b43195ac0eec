"""The `umbrella` command: one image, one CLI (ARCHITECTURE §1).

Exit codes: 0 success, 1 failure (the reason is printed), 2 usage error (e.g. an unknown
cron job), 78 configuration error (a missing or invalid `UMBRELLA_*` setting).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date

from umbrella import __version__
from umbrella.startup import settings_or_exit

EXIT_FAILURE = 1
EXIT_USAGE = 2


def cmd_api(args: argparse.Namespace) -> int:
    from umbrella.app import serve

    asyncio.run(serve(settings_or_exit("api")))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from umbrella.worker import run_worker

    asyncio.run(run_worker(settings_or_exit("worker")))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from umbrella.core.migrations import MigrationError, migrate

    settings = settings_or_exit("migrate")
    try:
        report = asyncio.run(migrate(settings))
    except MigrationError as error:
        print(f"umbrella migrate: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        print(f"umbrella migrate: cannot reach postgres: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if report.applied:
        print(f"applied {len(report.applied)} migration(s): {', '.join(report.applied)}")
    else:
        print("database is up to date")
    return 0


def cmd_cron(args: argparse.Namespace) -> int:
    from umbrella.core.cron import all_cron_jobs

    registry = all_cron_jobs()
    if args.list:
        # Where each job is scheduled: `worker` (the worker's scheduler, with
        # UMBRELLA_WORKER_SCHEDULER_ENABLED) or `cronjob` (a Kubernetes CronJob).
        for job in registry.values():
            print(f"{job.name}\t{job.schedule}\t{job.runs_in}\t{job.description}")
        return 0
    if args.job not in registry:
        known = ", ".join(registry)
        print(f"umbrella cron: unknown job {args.job!r}; known jobs: {known}", file=sys.stderr)
        return EXIT_USAGE
    if args.date is not None and not registry[args.job].takes_date:
        print(f"umbrella cron: job {args.job!r} does not take --date", file=sys.stderr)
        return EXIT_USAGE
    from umbrella.core.cron import run_once

    settings = settings_or_exit("cron")
    return asyncio.run(run_once(settings, args.job, day=args.date))


def cmd_dev(args: argparse.Namespace) -> int:
    from umbrella.dev import run_dev

    return run_dev(
        home=args.home, random_ports=args.ports == "random", restart_delay=args.restart_delay
    )


def cmd_seed(args: argparse.Namespace) -> int:
    from umbrella.dataset.builder import DatasetRefused, load_dataset
    from umbrella.dataset.size import DatasetSize
    from umbrella.seed import seed_demo

    size = DatasetSize.from_args(args)
    try:
        if size is not None:
            size.resolved()  # an impossible size is refused before anything is written
    except ValueError as error:
        print(f"umbrella seed: {error}", file=sys.stderr)
        return EXIT_USAGE
    settings = settings_or_exit("seed")
    if size is None:
        print(asyncio.run(seed_demo(settings)))
        return 0
    try:
        report = asyncio.run(load_dataset(settings, size))
    except DatasetRefused as refused:
        print(f"umbrella seed: {refused}", file=sys.stderr)
        return EXIT_USAGE
    print(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="umbrella", description="Umbrella: api, worker, cron jobs and operator commands."
    )
    parser.add_argument("--version", action="version", version=f"umbrella {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("api", help="serve the HTTP API").set_defaults(func=cmd_api)
    commands.add_parser("worker", help="run background jobs").set_defaults(func=cmd_worker)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )

    cron = commands.add_parser("cron", help="run one cron job now (or --list them)")
    cron.add_argument("job", nargs="?", help="the job name, e.g. sessions-cleanup")
    cron.add_argument(
        "--list",
        action="store_true",
        help="list the jobs: name, schedule (UTC), where it runs (worker or cronjob), what it does",
    )
    cron.add_argument(
        "--date",
        type=date.fromisoformat,
        help="the UTC day a dated job works on, YYYY-MM-DD (e.g. analytics-daily)",
    )
    cron.set_defaults(func=cmd_cron)

    dev = commands.add_parser(
        "dev", help="start Postgres, Redis and S3 locally, migrate, seed, run everything"
    )
    dev.add_argument("--home", default=".umbrella", help="where local data lives (.umbrella)")
    dev.add_argument(
        "--ports",
        choices=("fixed", "random"),
        default="fixed",
        help="fixed: Postgres 55432, Redis 56379, S3 58333; random: free ports (a second stack)",
    )
    dev.add_argument(
        "--restart-delay",
        type=float,
        default=3.0,
        help="seconds before a server, the api or the worker is restarted after it exits",
    )
    dev.set_defaults(func=cmd_dev)

    seed = commands.add_parser(
        "seed",
        help="write demo data (idempotent), or with --artists … a benchmark dataset",
        description="Without counts: the small idempotent demo data of `umbrella dev`. With"
        " any count: a realistic dataset of that size, bulk-loaded with COPY (development"
        " and test databases only).",
    )
    from umbrella.dataset.size import DatasetSize

    DatasetSize.add_arguments(seed)
    seed.set_defaults(func=cmd_seed)

    from umbrella import admin

    admin.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "cron" and not args.list and not args.job:
        parser.error("cron needs a job name (or --list)")
    code = int(args.func(args))
    return code
