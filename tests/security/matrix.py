"""The rows of the authorization matrix: who may call each route that names a resource.

A row is one (method, route template). Its scene says who plays the owner, the other party
(where one exists) and the stranger (a signed-in user of the owner's own role with no
relation to the resource, so the role check passes and the ownership check is what answers).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.broadcasts.audience import add_contacts
from tests.security import world as w
from tests.security.world import Scene, World

Builder = Callable[[World], Awaitable[Scene]]
Roles = ("anonymous", "stranger", "other", "owner")


def _ids(world: World, alias: Mapping[str, str], **made: str) -> dict[str, str]:
    """The world's ids, with path parameters renamed (`alias`) or freshly made (`made`)."""
    ids = dict(world.ids)
    ids.update({param: world.ids[key] for param, key in alias.items()})
    ids.update(made)
    return ids


def artists(*secrets: str, **alias: str) -> Builder:
    """A resource of the artist's that nobody else has a part in."""

    async def build(world: World) -> Scene:
        return Scene(_ids(world, alias), world.artist, world.stranger_artist, None, secrets)

    return build


def public_artist(*, other: bool = True) -> Builder:
    """The artist's public pages: anyone reads them, nobody reads private fields there."""

    async def build(world: World) -> Scene:
        return Scene(
            _ids(world, {}),
            world.artist,
            world.stranger_artist,
            world.venue if other else None,
            w.PROFILE_SECRETS,
            other_is_party=False,
        )

    return build


def venues(*secrets: str) -> Builder:
    """A gig of the venue's; the other party is the artist who applied to it."""

    async def build(world: World) -> Scene:
        return Scene(_ids(world, {}), world.venue, world.stranger_venue, world.artist, secrets)

    return build


def conversation(*secrets: str) -> Builder:
    """The artist's conversation with the venue; the venue is the other participant."""

    async def build(world: World) -> Scene:
        return Scene(_ids(world, {}), world.artist, world.stranger_artist, world.venue, secrets)

    return build


def fresh(param: str, make: Callable[[World], Awaitable[str]], *secrets: str) -> Builder:
    """A resource of the artist's made for this one test (the row destroys or changes it)."""

    async def build(world: World) -> Scene:
        made = await make(world)
        return Scene(
            _ids(world, {}, **{param: made}), world.artist, world.stranger_artist, None, secrets
        )

    return build


def fresh_gig(*, applied: bool = False) -> Builder:
    """A new open gig of the venue's; `applied`: with a new artist's pending application."""

    async def build(world: World) -> Scene:
        gig_id = await w.open_gig(world)
        ids = _ids(world, {}, gig_id=gig_id)
        other = world.artist
        if applied:
            other = await w.artist_person(world.client, f"Applicant {world.next()}")
            ids["application_id"] = await w.apply(world, gig_id, other, w.SECRET_APPLICATION)
        return Scene(ids, world.venue, world.stranger_venue, other, (w.SECRET_APPLICATION,))

    return build


def gig_for_artists() -> Builder:
    """The venue's open gig as the artist who applied to it sees it; any artist may save it."""

    async def build(world: World) -> Scene:
        return Scene(
            _ids(world, {}),
            world.artist,
            world.stranger_artist,
            world.venue,
            (w.SECRET_APPLICATION,),
        )

    return build


def fresh_apply() -> Builder:
    """A new open gig: any artist may apply (a public marketplace); its venue may not."""

    async def build(world: World) -> Scene:
        ids = _ids(world, {}, gig_id=await w.open_gig(world))
        return Scene(ids, world.artist, world.stranger_artist, world.venue)

    return build


def played_gig(*, completed: bool, reviewer: str) -> Builder:
    """Yesterday's gig of the venue with the artist booked; `reviewer` owns the row."""

    async def build(world: World) -> Scene:
        ids = _ids(world, {}, gig_id=await w.played_gig(world, completed=completed))
        if reviewer == "venue":
            return Scene(ids, world.venue, world.stranger_venue, world.artist)
        return Scene(ids, world.artist, world.stranger_artist, world.venue)

    return build


def fresh_member() -> Builder:
    async def build(world: World) -> Scene:
        list_id = await w.contact_list(world)
        await add_contacts(uuid.UUID(list_id), range(0, 1))
        ids = _ids(world, {}, list_id=list_id, member_id=await w.first_member(list_id))
        return Scene(ids, world.artist, world.stranger_artist, None, (w.SECRET_FAN_EMAIL,))

    return build


def strangers_parent(parent: str, key: str, owner: str, *secrets: str) -> Builder:
    """The stranger names a parent of their own (`key` in the world) with our child's id."""

    async def build(world: World) -> Scene:
        ids = _ids(world, {parent: key})
        if owner == "venue":
            return Scene(ids, world.venue, world.stranger_venue, None, secrets)
        return Scene(ids, world.artist, world.stranger_artist, None, secrets)

    return build


def booking() -> Builder:
    """The artist booked on the venue's gig: both parties read its terms, nobody else."""

    async def build(world: World) -> Scene:
        gig_id = await w.open_gig(world)
        booking_id = await w.apply(world, gig_id, world.artist)
        accept = f"/v1/gigs/{gig_id}/applications/{booking_id}/accept"
        await w.post(world.client, world.venue, accept, None, 200)
        ids = _ids(world, {}, gig_id=gig_id, booking_id=booking_id)
        return Scene(ids, world.artist, world.stranger_artist, world.venue)

    return build


SECRET_ALERT = "Alert 7c41 Austin indie"


async def gig_alert(world: World) -> str:
    """An artist's gig alert (the rows change or delete it, so each case makes its own)."""
    body = {"name": SECRET_ALERT, "filters": {"genres": ["indie"], "city": "Austin"}}
    return str((await w.post(world.client, world.artist, "/v1/alerts", body))["id"])


async def unavailable_date(world: World) -> str:
    """An artist's unavailable day, a new one each time (entries may not overlap)."""
    day = datetime.now(UTC).date() + timedelta(days=1 + world.next())
    body = {"start_date": day.isoformat(), "note": "Family wedding"}
    made = await w.post(world.client, world.artist, "/v1/profile/unavailability", body)
    return str(made["id"])


@dataclass(frozen=True)
class Row:
    """Expected statuses per role; `None` for a role the row has no case for."""

    method: str
    path: str
    scene: Builder
    owner: int | None
    stranger: int
    other: int | None = None
    body: Mapping[str, Any] | None = None
    # The stranger may call it (public data or a public action): secrets must not show.
    public: bool = False
    # The row changes or destroys its resource: after a refused call the owner still succeeds.
    fresh: bool = False
    label: str = ""
    # Without a session: 401, except on the public views (then as a stranger).
    anonymous: int | None = 401

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def expected(self, role: str) -> int | None:
        statuses = {"owner": self.owner, "other": self.other, "anonymous": self.anonymous}
        status: int | None = statuses.get(role, self.stranger)
        return status

    def roles(self) -> list[str]:
        return [role for role in Roles if self.expected(role) is not None]

    def case_id(self, role: str) -> str:
        label = f" [{self.label}]" if self.label else ""
        return f"{self.method} {self.path}{label} as {role}"


GIG_APPLICATIONS = "/v1/gigs/{gig_id}/applications/{application_id}"
REVIEW = {"rating": 5, "comment": "Great night"}
OWN_GIG = 403  # own_gig_row: someone else's gig answers 403 (documented: "another venue")
NOT_A_VENUE = 403  # an artist on a venue-only route
NOT_AN_ARTIST = 403  # a venue on an artist-only action (apply, save)
NOT_BOOKED = 403  # reviews and completion: "only the venue and the artists it booked"

ROWS: tuple[Row, ...] = (
    # -- profile: timeline and public pages ---------------------------------------------------
    Row("PUT", "/v1/profile/timeline/{entry_id}", artists(), 200, 404, body={"title": "Renamed"}),
    Row(
        "DELETE",
        "/v1/profile/timeline/{entry_id}",
        fresh("entry_id", w.timeline_entry),
        200,
        404,
        fresh=True,
    ),
    Row(
        "DELETE",
        "/v1/profile/unavailability/{entry_id}",
        fresh("entry_id", unavailable_date, "Family wedding"),
        200,
        404,
        fresh=True,
    ),
    Row(
        "GET", "/v1/profile/{artist_id}", public_artist(), 200, 200, 200, public=True, anonymous=200
    ),
    Row(
        "GET",
        "/v1/profile/{artist_id}/timeline",
        public_artist(),
        200,
        200,
        200,
        public=True,
        anonymous=200,
    ),
    Row(
        "GET",
        "/v1/profile/{artist_id}/portfolio",
        public_artist(),
        200,
        200,
        200,
        public=True,
        anonymous=200,
    ),
    Row(
        "GET", "/v1/artists/{artist_id}", public_artist(), 200, 200, 200, public=True, anonymous=200
    ),
    # -- tracks ---------------------------------------------------------------------------------
    Row("PUT", "/v1/profile/tracks/{track_id}", artists(), 200, 404, body={"title": "Renamed"}),
    Row(
        "DELETE", "/v1/profile/tracks/{track_id}", fresh("track_id", w.track), 200, 404, fresh=True
    ),
    Row(
        "POST",
        "/v1/profile/{artist_id}/tracks/{track_id}/play",
        public_artist(),
        200,
        200,
        200,
        public=True,
        anonymous=200,
    ),
    # -- reviews --------------------------------------------------------------------------------
    Row(
        "GET",
        "/v1/profile/{artist_id}/reviews",
        public_artist(),
        200,
        200,
        200,
        public=True,
        anonymous=200,
    ),
    Row(
        "POST",
        "/v1/gigs/{gig_id}/reviews/artist/{artist_id}",
        played_gig(completed=True, reviewer="venue"),
        201,
        NOT_BOOKED,
        NOT_BOOKED,
        body=REVIEW,
        fresh=True,
    ),
    Row(
        "POST",
        "/v1/gigs/{gig_id}/reviews/venue",
        played_gig(completed=True, reviewer="artist"),
        201,
        NOT_BOOKED,
        NOT_BOOKED,
        body=REVIEW,
        fresh=True,
    ),
    Row(
        "GET",
        "/v1/venues/{venue_user_id}/reviews",
        venues(w.PRIVATE_EMAIL),
        200,
        200,
        200,
        public=True,
        anonymous=200,
    ),
    # -- follows: a public action on a public profile; nobody follows themself ------------------
    Row("POST", "/v1/artists/{artist_id}/follow", public_artist(), 400, 200, 200, public=True),
    Row("DELETE", "/v1/artists/{artist_id}/follow", public_artist(), 400, 200, 200, public=True),
    Row(
        "GET",
        "/v1/artists/{artist_id}/followers",
        public_artist(),
        200,
        200,
        200,
        public=True,
        anonymous=200,
    ),
    # -- gigs: any signed-in user reads an open gig; only its venue manages it ------------------
    Row(
        "GET",
        "/v1/gigs/{gig_id}",
        venues("pending_applications", w.SECRET_APPLICATION),
        200,
        200,
        200,
        public=True,
    ),
    Row(
        "PUT",
        "/v1/gigs/{gig_id}",
        venues(),
        200,
        OWN_GIG,
        NOT_A_VENUE,
        body={"title": "Renamed gig"},
    ),
    Row("POST", "/v1/gigs/{gig_id}/cancel", fresh_gig(), 200, OWN_GIG, NOT_A_VENUE, fresh=True),
    Row("POST", "/v1/gigs/{gig_id}/apply", fresh_apply(), 201, 201, NOT_AN_ARTIST, public=True),
    Row(
        "POST",
        "/v1/gigs/{gig_id}/favorite",
        gig_for_artists(),
        200,
        200,
        NOT_AN_ARTIST,
        public=True,
    ),
    Row(
        "DELETE",
        "/v1/gigs/{gig_id}/favorite",
        gig_for_artists(),
        200,
        200,
        NOT_AN_ARTIST,
        public=True,
    ),
    Row(
        "POST",
        "/v1/gigs/{gig_id}/complete",
        played_gig(completed=False, reviewer="venue"),
        200,
        NOT_BOOKED,
        200,
        fresh=True,
    ),
    Row(
        "GET",
        "/v1/gigs/{gig_id}/applications",
        venues(w.SECRET_APPLICATION),
        200,
        OWN_GIG,
        NOT_A_VENUE,
    ),
    Row(
        "POST", GIG_APPLICATIONS + "/view", venues(w.SECRET_APPLICATION), 200, OWN_GIG, NOT_A_VENUE
    ),
    Row(
        "POST",
        GIG_APPLICATIONS + "/accept",
        fresh_gig(applied=True),
        200,
        OWN_GIG,
        NOT_A_VENUE,
        fresh=True,
    ),
    Row(
        "POST",
        GIG_APPLICATIONS + "/reject",
        fresh_gig(applied=True),
        200,
        OWN_GIG,
        NOT_A_VENUE,
        fresh=True,
    ),
    # -- bookings: the booked artist and the gig's venue read the terms; to others no booking --
    Row("GET", "/v1/bookings/{booking_id}", booking(), 200, 404, 200),
    # -- gig alerts: the artist's own --------------------------------------------------------------
    Row("GET", "/v1/alerts/{alert_id}", fresh("alert_id", gig_alert, SECRET_ALERT), 200, 404),
    Row(
        "PUT",
        "/v1/alerts/{alert_id}",
        fresh("alert_id", gig_alert, SECRET_ALERT),
        200,
        404,
        body={"name": "Renamed"},
        fresh=True,
    ),
    Row("DELETE", "/v1/alerts/{alert_id}", fresh("alert_id", gig_alert), 200, 404, fresh=True),
    # -- messaging: the two participants, nobody else --------------------------------------------
    Row(
        "GET", "/v1/conversations/{conversation_id}", conversation(w.SECRET_MESSAGE), 200, 404, 200
    ),
    Row(
        "POST",
        "/v1/conversations/{conversation_id}/messages",
        conversation(w.SECRET_MESSAGE),
        201,
        404,
        201,
        body={"content": "See you at soundcheck"},
    ),
    Row(
        "POST",
        "/v1/conversations/{conversation_id}/read",
        conversation(w.SECRET_MESSAGE),
        200,
        404,
        200,
    ),
    Row(
        "GET",
        "/v1/conversations/{conversation_id}/messages/{message_id}/attachment",
        conversation(w.SECRET_ATTACHMENT),
        200,
        404,
        200,
    ),
    # -- files and folders ----------------------------------------------------------------------
    Row(
        "PUT",
        "/v1/files/folders/{folder_id}",
        artists(w.SECRET_FOLDER),
        200,
        404,
        body={"name": w.SECRET_FOLDER},
    ),
    Row(
        "DELETE",
        "/v1/files/folders/{folder_id}",
        fresh("folder_id", w.folder),
        200,
        404,
        fresh=True,
    ),
    Row("GET", "/v1/files/{file_id}", artists(w.SECRET_FILENAME), 200, 404),
    Row("DELETE", "/v1/files/{file_id}", fresh("file_id", w.stored_file), 200, 404, fresh=True),
    Row(
        "PUT",
        "/v1/files/{file_id}/move",
        artists(w.SECRET_FILENAME),
        200,
        404,
        body={"filename": w.SECRET_FILENAME},
    ),
    # -- contacts and broadcasts ------------------------------------------------------------------
    Row("GET", "/v1/contacts/lists/{list_id}", artists(w.SECRET_LIST), 200, 404),
    Row(
        "PUT",
        "/v1/contacts/lists/{list_id}",
        artists(w.SECRET_LIST),
        200,
        404,
        body={"name": w.SECRET_LIST},
    ),
    Row(
        "DELETE",
        "/v1/contacts/lists/{list_id}",
        fresh("list_id", w.contact_list),
        200,
        404,
        fresh=True,
    ),
    Row("GET", "/v1/contacts/lists/{list_id}/members", artists(w.SECRET_FAN_EMAIL), 200, 404),
    Row(
        "DELETE",
        "/v1/contacts/lists/{list_id}/members/{member_id}",
        fresh_member(),
        200,
        404,
        fresh=True,
    ),
    Row(
        "POST",
        "/v1/broadcast/{broadcast_id}/cancel",
        fresh("broadcast_id", w.scheduled_broadcast, w.SECRET_BROADCAST),
        200,
        404,
        fresh=True,
    ),
    # -- journal and goals ----------------------------------------------------------------------
    Row(
        "GET",
        "/v1/journal/{entry_id}",
        artists(w.SECRET_JOURNAL, entry_id="journal_entry_id"),
        200,
        404,
    ),
    Row(
        "PUT",
        "/v1/journal/{entry_id}",
        artists(w.SECRET_JOURNAL, entry_id="journal_entry_id"),
        200,
        404,
        body={"title": w.SECRET_JOURNAL},
    ),
    Row(
        "DELETE", "/v1/journal/{entry_id}", fresh("entry_id", w.journal_entry), 200, 404, fresh=True
    ),
    Row(
        "PUT",
        "/v1/analytics/goals/{goal_id}",
        artists(w.SECRET_GOAL),
        200,
        404,
        body={"title": w.SECRET_GOAL},
    ),
    Row("DELETE", "/v1/analytics/goals/{goal_id}", fresh("goal_id", w.goal), 200, 404, fresh=True),
    # -- a parent of the stranger's own with a child of ours: still not found --------------------
    *(
        Row(
            "POST",
            f"{GIG_APPLICATIONS}/{action}",
            strangers_parent("gig_id", "stranger_gig_id", "venue", w.SECRET_APPLICATION),
            None,
            404,
            anonymous=None,
            label="stranger's own gig",
        )
        for action in ("view", "accept", "reject")
    ),
    Row(
        "GET",
        "/v1/conversations/{conversation_id}/messages/{message_id}/attachment",
        strangers_parent(
            "conversation_id", "stranger_conversation_id", "artist", w.SECRET_ATTACHMENT
        ),
        None,
        404,
        anonymous=None,
        label="stranger's own conversation",
    ),
    Row(
        "DELETE",
        "/v1/contacts/lists/{list_id}/members/{member_id}",
        strangers_parent("list_id", "stranger_list_id", "artist", w.SECRET_FAN_EMAIL),
        None,
        404,
        anonymous=None,
        label="stranger's own list",
    ),
)

# Routes with a path parameter that names no resource of anyone's.
EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/v1/auth/login/{provider}"): "names a sign-in provider (apple|google), not a resource",
    ("GET", "/v1/auth/callback/{provider}"): "names a sign-in provider; checked by state and PKCE",
    ("POST", "/v1/auth/callback/{provider}"): "names a sign-in provider; checked by state and PKCE",
}
