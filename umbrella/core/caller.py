"""Who is calling: resolved once per request, handed to services instead of `user_id, role`.

A service asks the caller what it needs: `require_artist()` for an artist-only use case
(the artist id, looked up once and cached for the rest of the request), `require_venue()`
for a venue-only one, `artist_id()` where an artist merely sees more (a gig list with their
favorites and applications marked). The lookup of the artist id belongs to the artists
domain; the web layer passes it in (keys.ARTIST_ID_OF), so `core/` names no domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol
from uuid import UUID

from umbrella.core.errors import Forbidden, NotFound


class ArtistIdLookup(Protocol):
    """The user's artist profile id, or None: the artists domain answers (get_artist_id)."""

    async def __call__(self, *, user_id: UUID) -> UUID | None: ...


NOT_AN_ARTIST: Final = "Only artists can do this."
NOT_A_VENUE: Final = "Only venues can do this."
# The one answer for an artist who has not done onboarding step 1 (so has no profile yet),
# whatever they tried: the web app sends them to onboarding on field `onboarding`.
NO_PROFILE: Final = "You have no artist profile yet: start onboarding at step 1."

_UNKNOWN: Final = object()


@dataclass
class Caller:
    """The signed-in user behind a request (or a job acting for one)."""

    user_id: UUID
    role: str | None
    find_artist_id: ArtistIdLookup = field(repr=False)
    _artist_id: object = field(default=_UNKNOWN, repr=False)

    @property
    def is_artist(self) -> bool:
        return self.role == "artist"

    @property
    def is_venue(self) -> bool:
        return self.role == "venue"

    async def artist_id(self) -> UUID | None:
        """The caller's artist profile id; None for other roles and before onboarding step 1.

        One query at most per request: the answer is kept.
        """
        if self._artist_id is _UNKNOWN:
            self._artist_id = (
                await self.find_artist_id(user_id=self.user_id) if self.is_artist else None
            )
        return self._artist_id  # type: ignore[return-value]

    async def require_artist(self) -> UUID:
        """The caller's artist id: 403 for other roles, 404 (field `onboarding`) before step 1."""
        if not self.is_artist:
            raise Forbidden(NOT_AN_ARTIST)
        artist_id = await self.artist_id()
        if artist_id is None:
            raise NotFound(NO_PROFILE, field="onboarding")
        return artist_id

    def require_venue(self) -> None:
        """403 unless the caller is a venue."""
        if not self.is_venue:
            raise Forbidden(NOT_A_VENUE)
