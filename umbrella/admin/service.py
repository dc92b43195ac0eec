"""Operator use cases behind `umbrella admin`: users, artist verification, quotas, cron runs.

The commands in this package parse arguments and print; the queries live here, keyword-only
and `async` like every service. A user or an artist is named by its id or by the user's email.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from umbrella.accounts.tables import User
from umbrella.artists.tables import Artist
from umbrella.core.errors import Conflict, NotFound, ValidationFailed
from umbrella.piccolo_conf import DB
from umbrella.storage.tables import StorageQuota

OPERATOR_ROLES = ("venue", "admin")  # artists sign up themselves (SPEC §3.1)


def _as_uuid(ref: str) -> UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise ValidationFailed(f"{email!r} is not an email address", field="email")
    return email


@dataclass(frozen=True)
class UserRef:
    id: UUID
    email: str | None
    role: str
    display_name: str | None


async def get_user(*, ref: str) -> UserRef:
    """The user with this id or email."""
    user_id = _as_uuid(ref)
    condition = User.id == user_id if user_id else User.email == ref.strip().lower()
    row = (
        await User.select(User.id, User.email, User.role, User.display_name)
        .where(condition)
        .first()
    )
    if row is None:
        raise NotFound(f"no user has the id or email {ref!r}")
    return UserRef(row["id"], row["email"], row["role"], row["display_name"])


async def create_user(*, email: str, role: str, display_name: str | None) -> UserRef:
    """Create a venue or admin account by email; Apple/Google is linked at its first sign-in."""
    if role not in OPERATOR_ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(OPERATOR_ROLES)}", field="role")
    email = _normalise_email(email)
    async with DB.transaction():
        existing = await User.select(User.id, User.role).where(User.email == email).first()
        if existing is not None:
            raise Conflict(
                f"a user with the email {email} already exists "
                f"(id {existing['id']}, role {existing['role']})"
            )
        now = datetime.now(UTC)
        user_id = uuid.uuid4()
        await User.insert(
            User(
                id=user_id,
                email=email,
                display_name=display_name,
                role=role,
                role_chosen_at=now,
                # Venues and admins have no artist onboarding to go through.
                onboarding_complete=True,
                created_at=now,
                updated_at=now,
            )
        )
    return UserRef(user_id, email, role, display_name)


@dataclass(frozen=True)
class ArtistRef:
    id: UUID
    stage_name: str
    email: str | None
    verified: bool


async def get_artist(*, ref: str) -> ArtistRef:
    """The artist with this artist id, user id or user email."""
    ref_id = _as_uuid(ref)
    condition: Combinable
    if ref_id is not None:
        condition = (Artist.id == ref_id) | (Artist.user_id == ref_id)
    else:
        condition = Artist.user_id.email == ref.strip().lower()
    row = (
        await Artist.select(Artist.id, Artist.stage_name, Artist.verified, Artist.user_id.email)
        .where(condition)
        .first()
    )
    if row is None:
        raise NotFound(f"no artist has the id or email {ref!r}")
    return ArtistRef(row["id"], row["stage_name"], row["user_id.email"], row["verified"])


async def update_artist_verified(*, ref: str, verified: bool) -> tuple[ArtistRef, bool]:
    """Set an artist's verified badge; also say whether anything changed."""
    artist = await get_artist(ref=ref)
    if artist.verified == verified:
        return artist, False
    await Artist.update({Artist.verified: verified, Artist.updated_at: datetime.now(UTC)}).where(
        Artist.id == artist.id
    )
    return ArtistRef(artist.id, artist.stage_name, artist.email, verified), True


@dataclass(frozen=True)
class QuotaRow:
    artist_id: UUID
    stage_name: str
    email: str | None
    used_bytes: int
    limit_bytes: int

    @property
    def used_ratio(self) -> float:
        return self.used_bytes / self.limit_bytes if self.limit_bytes else 1.0


@dataclass(frozen=True)
class QuotaReport:
    top: list[QuotaRow]
    artists: int
    total_used_bytes: int
    at_limit: int  # artists with less than 1 % of their quota left


async def get_quota_report(*, limit: int) -> QuotaReport:
    """The artists storing the most bytes, and the totals over every artist."""
    rows = (
        await StorageQuota.select(
            StorageQuota.artist_id,
            StorageQuota.used_bytes,
            StorageQuota.limit_bytes,
            StorageQuota.artist_id.stage_name,
            StorageQuota.artist_id.user_id.email,  # type: ignore[union-attr]
        )
        .order_by(StorageQuota.used_bytes, ascending=False)
        .order_by(StorageQuota.artist_id)
        .limit(limit)
    )
    top = [
        QuotaRow(
            artist_id=row["artist_id"],
            stage_name=row["artist_id.stage_name"],
            email=row["artist_id.user_id.email"],
            used_bytes=row["used_bytes"],
            limit_bytes=row["limit_bytes"],
        )
        for row in rows
    ]
    totals: list[dict[str, Any]] = await DB.run_ddl(
        "SELECT count(*) AS artists, coalesce(sum(used_bytes), 0)::bigint AS used,"
        " count(*) FILTER (WHERE used_bytes * 100 >= limit_bytes * 99) AS at_limit"
        " FROM storage_quotas"
    )
    return QuotaReport(
        top=top,
        artists=int(totals[0]["artists"]),
        total_used_bytes=int(totals[0]["used"]),
        at_limit=int(totals[0]["at_limit"]),
    )


@dataclass(frozen=True)
class CronStatus:
    job: str
    schedule: str
    last_outcome: str | None
    last_started_at: datetime | None
    last_success_at: datetime | None


async def list_cron_status(*, jobs: dict[str, str]) -> list[CronStatus]:
    """Each cron job (name → schedule) with its latest run and its latest success."""
    rows: list[dict[str, Any]] = await DB.run_ddl(
        "SELECT job,"
        " (array_agg(outcome ORDER BY started_at DESC))[1] AS last_outcome,"
        " max(started_at) AS last_started_at,"
        " max(finished_at) FILTER (WHERE outcome = 'succeeded') AS last_success_at"
        " FROM cron_runs GROUP BY job"
    )
    by_job = {row["job"]: row for row in rows}
    statuses = []
    for name, schedule in jobs.items():
        row = by_job.get(name, {})
        statuses.append(
            CronStatus(
                job=name,
                schedule=schedule,
                last_outcome=row.get("last_outcome"),
                last_started_at=row.get("last_started_at"),
                last_success_at=row.get("last_success_at"),
            )
        )
    return statuses
