"""`umbrella admin …`: operator commands, run with `kubectl exec` or as a one-off Job.

Every command has `--help`, prints what it did, and exits non-zero when it could not do it
(1 failure, 2 usage error, 78 a missing or invalid setting).
"""

from __future__ import annotations

import argparse

from umbrella.admin import accounts, cron, doctor, jobs, quota
from umbrella.admin.runtime import quiet_logs


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `admin` command group to the `umbrella` command line."""
    admin = commands.add_parser(
        "admin",
        help="operator tasks: accounts, artists, sessions, jobs, cron, quotas, doctor",
        description="Operator tasks. In Kubernetes: kubectl exec deploy/<release>-api -- "
        "umbrella admin …",
    )
    groups = admin.add_subparsers(dest="admin_command", required=True, metavar="GROUP")
    accounts.register(groups)
    jobs.register(groups)
    cron.register(groups)
    quota.register(groups)
    doctor.register(groups)
    _quiet_every_command(admin)


def _quiet_every_command(parser: argparse.ArgumentParser) -> None:
    func = parser.get_default("func")
    if func is not None:
        parser.set_defaults(func=quiet_logs(func))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _quiet_every_command(child)
