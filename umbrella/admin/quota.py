"""`umbrella admin quota report`: the artists who store the most, against their quota."""

from __future__ import annotations

import argparse
import json

from umbrella.admin import runtime
from umbrella.config import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    quota = commands.add_parser("quota", help="storage used by artists against their quota")
    actions = quota.add_subparsers(dest="quota_action", required=True, metavar="ACTION")
    report = actions.add_parser("report", help="the top artists by storage used, and the totals")
    report.add_argument(
        "--top", type=runtime.list_size, default=20, metavar="N", help="how many artists (20)"
    )
    report.add_argument("--json", action="store_true", help="one JSON document")
    report.set_defaults(func=cmd_quota_report)


def cmd_quota_report(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.admin import service

        async with runtime.database(settings):
            report = await service.get_quota_report(limit=args.top)
        if args.json:
            print(
                json.dumps(
                    {
                        "artists": report.artists,
                        "total_used_bytes": report.total_used_bytes,
                        "at_limit": report.at_limit,
                        "top": [
                            {
                                "artist_id": str(row.artist_id),
                                "stage_name": row.stage_name,
                                "email": row.email,
                                "used_bytes": row.used_bytes,
                                "limit_bytes": row.limit_bytes,
                            }
                            for row in report.top
                        ],
                    }
                )
            )
            return runtime.EXIT_OK
        hb = runtime.human_bytes
        print(
            f"{report.artists} artist(s) store {hb(report.total_used_bytes)}; "
            f"{report.at_limit} within 1% of their quota"
        )
        if not report.top:
            return runtime.EXIT_OK
        print(f"{'ARTIST ID':<36}  {'STAGE NAME':<28} {'USED':>10} {'QUOTA':>10} {'USE':>6}")
        for row in report.top:
            name = row.stage_name if len(row.stage_name) <= 28 else row.stage_name[:27] + "…"
            print(
                f"{row.artist_id!s:<36}  {name:<28} {hb(row.used_bytes):>10} "
                f"{hb(row.limit_bytes):>10} {row.used_ratio:>6.1%}"
            )
        return runtime.EXIT_OK

    return runtime.run("quota report", work)
