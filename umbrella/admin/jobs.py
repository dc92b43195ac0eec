"""`umbrella admin jobs …`: list the jobs held as failed and put them back on the queue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from umbrella.admin import runtime
from umbrella.config import Settings

if TYPE_CHECKING:
    from umbrella.jobs import FailedJob

ERROR_WIDTH = 100


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `jobs failed` and `jobs retry` to the `umbrella admin` command group."""
    group = commands.add_parser(
        "jobs",
        help="list and re-queue background jobs held as failed",
        description="Jobs are retried with backoff; after the last try they are held as "
        "failed with their error until re-queued here.",
    )
    actions = group.add_subparsers(dest="jobs_action", required=True, metavar="ACTION")

    failed = actions.add_parser("failed", help="list the jobs held as failed, newest first")
    failed.add_argument("--job", help="only jobs of this name, e.g. send_notification")
    failed.add_argument(
        "--limit", type=runtime.list_size, default=50, help="at most this many (50)"
    )
    failed.add_argument("--json", action="store_true", help="one JSON object per line")
    failed.set_defaults(func=cmd_failed)

    retry = actions.add_parser(
        "retry", help="put held jobs back on the queue; their tries start again"
    )
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="job ids (see `failed`)")
    retry.add_argument("--all", action="store_true", help="re-queue every held job")
    retry.set_defaults(func=cmd_retry)


def cmd_failed(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.jobs import list_failed_jobs

        async with runtime.database(settings):
            held = await list_failed_jobs(limit=args.limit, name=args.job)
        _print_failed(held, as_json=args.json)
        return runtime.EXIT_OK

    return runtime.run("jobs failed", work)


def _print_failed(held: list[FailedJob], *, as_json: bool) -> None:
    if as_json:
        for job in held:
            print(
                json.dumps(
                    {
                        "id": job.id,
                        "job": job.name,
                        "tries": job.attempts,
                        "created_at": job.created_at.isoformat(),
                        "failed_at": job.failed_at.isoformat(),
                        "error": job.error,
                        "payload": job.payload,
                    }
                )
            )
        return
    if not held:
        print("no jobs are held as failed")
        return
    print(f"{'ID':>8}  {'JOB':<28} {'TRIES':>5}  {'FAILED AT (UTC)':<19}  ERROR")
    for job in held:
        error = (job.error or "").replace("\n", " ")
        if len(error) > ERROR_WIDTH:
            error = error[: ERROR_WIDTH - 1] + "…"
        failed_at = job.failed_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{job.id:>8}  {job.name:<28} {job.attempts:>5}  {failed_at:<19}  {error}")
    print(f"{len(held)} held; re-queue with: umbrella admin jobs retry <ID …> | --all")


def cmd_retry(args: argparse.Namespace) -> int:
    if args.all == bool(args.ids):
        print("umbrella admin jobs retry: give job ids or --all (not both)", file=sys.stderr)
        return runtime.EXIT_USAGE
    wanted = None if args.all else sorted(set(args.ids))

    async def work(settings: Settings) -> int:
        from umbrella.jobs import retry_failed_jobs

        async with runtime.database(settings):
            requeued = await retry_failed_jobs(job_ids=wanted)
        if requeued:
            print(f"re-queued {len(requeued)} job(s): {', '.join(map(str, requeued))}")
        if wanted is None:
            if not requeued:
                print("no jobs are held as failed")
            return runtime.EXIT_OK
        missing = sorted(set(wanted) - set(requeued))
        if missing:
            raise runtime.AdminError(f"not held as failed: {', '.join(map(str, missing))}")
        return runtime.EXIT_OK

    return runtime.run("jobs retry", work)
