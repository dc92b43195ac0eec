"""`umbrella admin users create|delete`, `sessions revoke`, `artists verify|unverify`."""

from __future__ import annotations

import argparse

from umbrella.admin import runtime
from umbrella.config import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser(
        "users",
        help="create venue and admin accounts",
        description="Artists sign up themselves. A venue or an admin account is created here "
        "by email and linked to Apple or Google when that person first signs in.",
    )
    user_actions = users.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    create = user_actions.add_parser("create", help="create a venue or admin account by email")
    create.add_argument("--email", required=True, help="their sign-in email (Apple or Google)")
    create.add_argument("--role", required=True, choices=("venue", "admin"), help="their role")
    create.add_argument("--name", help="display name, e.g. the venue's name")
    create.set_defaults(func=cmd_users_create)
    delete = user_actions.add_parser(
        "delete",
        help="delete an account and everything it owns (D-102, as the user's own deletion)",
    )
    delete.add_argument("user", metavar="USER", help="the user's id or email")
    delete.add_argument(
        "--yes", action="store_true", required=True, help="confirm: this cannot be undone"
    )
    delete.set_defaults(func=cmd_users_delete)

    sessions = commands.add_parser("sessions", help="sign a user out everywhere")
    session_actions = sessions.add_subparsers(
        dest="sessions_action", required=True, metavar="ACTION"
    )
    revoke = session_actions.add_parser(
        "revoke",
        help="revoke every live session of a user (a lost phone, a compromised account)",
    )
    revoke.add_argument("user", metavar="USER", help="the user's id or email")
    revoke.set_defaults(func=cmd_sessions_revoke)

    artists = commands.add_parser("artists", help="grant or remove an artist's verified badge")
    artist_actions = artists.add_subparsers(dest="artists_action", required=True, metavar="ACTION")
    for action, verified, text in (
        ("verify", True, "mark an artist as verified"),
        ("unverify", False, "remove an artist's verified badge"),
    ):
        command = artist_actions.add_parser(action, help=text)
        command.add_argument("artist", metavar="ARTIST", help="artist id, user id or user email")
        command.set_defaults(func=cmd_artists_verify, verified=verified, action=action)


def cmd_users_create(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.admin import service

        async with runtime.database(settings):
            user = await service.create_user(
                email=args.email, role=args.role, display_name=args.name
            )
        print(f"created {user.role} {user.email} (id {user.id})")
        return runtime.EXIT_OK

    return runtime.run("users create", work)


def cmd_users_delete(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.admin import service
        from umbrella.core import cache
        from umbrella.privacy import service as privacy_service

        async with runtime.database(settings):
            user = await service.get_user(ref=args.user)
            redis = cache.client(settings)
            try:
                deletion = await privacy_service.delete_account(user_id=user.id, redis=redis)
            finally:
                await redis.aclose()
        print(
            f"deleted {user.email or user.id}: {deletion.sessions_revoked} session(s) revoked, "
            f"{len(deletion.prefixes)} storage folder(s) queued for cleanup"
        )
        return runtime.EXIT_OK

    return runtime.run("users delete", work)


def cmd_sessions_revoke(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.accounts.service import SessionStore
        from umbrella.admin import service
        from umbrella.core import cache
        from umbrella.observability.metrics import Metrics

        async with runtime.database(settings):
            user = await service.get_user(ref=args.user)
            # The same path as "sign out everywhere": Postgres first, then Redis (now if it
            # answers, else through the purge job the revocation enqueues).
            redis = cache.client(settings)
            try:
                store = SessionStore(
                    redis=redis, metrics=Metrics(), ttl_seconds=settings.session_ttl_seconds
                )
                revoked = await store.delete_all_for_user(user_id=user.id)
            finally:
                await redis.aclose()
        print(f"revoked {revoked} session(s) of {user.email or user.id}")
        return runtime.EXIT_OK

    return runtime.run("sessions revoke", work)


def cmd_artists_verify(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> int:
        from umbrella.admin import service

        async with runtime.database(settings):
            artist, changed = await service.update_artist_verified(
                ref=args.artist, verified=args.verified
            )
        state = "verified" if artist.verified else "not verified"
        prefix = "" if changed else "unchanged: "
        print(f"{prefix}{artist.stage_name} (artist {artist.id}) is {state}")
        return runtime.EXIT_OK

    return runtime.run(f"artists {args.action}", work)
