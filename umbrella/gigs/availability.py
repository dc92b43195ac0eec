"""Whether an artist is free for a gig: not on a day they marked unavailable, not booked then.

Applying refuses both, accepting refuses an unavailable day (its overlap check in
`bookings.py` covers bookings), and browse's `available=true` hides both, by whole days
(docs/marketplace.md, "Availability"). Later flows that put an artist on a gig (offers) ask
`check_available` too. The unavailable dates are the artists domain's
(`umbrella/artists/availability.py`); they are only read here.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from umbrella.artists.availability import span_text
from umbrella.core import db
from umbrella.core.errors import Conflict

Audience = Literal["artist", "venue"]


def span_sql(alias: str) -> str:
    """When a gig takes place, as a tsrange: no start means all day, no end the day's end.

    One definition for every overlap check (applying, accepting, browse's `available`). An
    end at or before the start is read as past midnight (the API refuses one, older rows may
    hold one), so no statement fails on a range Postgres cannot make.
    """
    a = alias
    start = f"{a}.date + coalesce({a}.start_time, time '00:00')"
    return (
        f"tsrange({start},"
        f" CASE WHEN {a}.end_time IS NULL THEN ({a}.date + 1) + time '00:00'"
        f" WHEN {a}.end_time > coalesce({a}.start_time, time '00:00') THEN {a}.date + {a}.end_time"
        f" ELSE ({a}.date + 1) + {a}.end_time END)"
    )


# One statement: the artist's entry covering the gig's day, else a booking at the same time.
_WHY_NOT_SQL = (
    "SELECT * FROM ("
    " SELECT 'unavailable' AS why, u.starts_on AS first, u.ends_on AS last, NULL AS title"
    " FROM artist_unavailability u"
    " WHERE u.artist_id = $1 AND u.ends_on >= $2 AND u.starts_on <= $2"
    " UNION ALL"
    " SELECT 'booked', og.date, og.date, og.title FROM gig_applications oa"
    " JOIN gigs og ON og.id = oa.gig_id, gigs g"
    " WHERE $3 AND g.id = $4 AND oa.artist_id = $1 AND oa.status = 'accepted'"
    " AND og.id <> g.id AND og.status <> 'cancelled'"
    " AND og.date BETWEEN g.date - 1 AND g.date + 1"
    f" AND {span_sql('og')} && {span_sql('g')}"
    ") w ORDER BY why DESC LIMIT 1"
)


def _refusal(row: dict[str, Any], *, audience: Audience) -> Conflict:
    if row["why"] == "unavailable":
        days = span_text(row["first"], row["last"])
        message = (
            f"You marked {days} as unavailable. Remove it from your unavailable dates to apply."
            if audience == "artist"
            else f"This artist marked {days} as unavailable."
        )
    else:
        on = f"{row['first']:%B} {row['first'].day}"
        subject = "You are" if audience == "artist" else "This artist is"
        message = f"{subject} already booked for {row['title']} at that time ({on})."
    return Conflict(message, field="date")


async def check_available(
    gig: dict[str, Any], *, artist_id: UUID, audience: Audience, booked: bool = True
) -> None:
    """Refuse (409, field `date`) a gig on a day the artist marked unavailable or, unless
    `booked` is False, at a time they are already booked."""
    rows = await db.fetch(_WHY_NOT_SQL, artist_id, gig["date"], booked, gig["id"])
    if rows:
        raise _refusal(rows[0], audience=audience)


def free_sql(artist: str, on: str) -> str:
    """A condition on gig `g`: its date is neither one the artist (an SQL expression for
    their id) marked unavailable nor one they are booked on.

    Whole days, unlike `check_available`: the browse walk reads only its index, which holds
    a gig's date but not its times, and a condition on the times would cost a table read
    for every gig walked past (a walk matching nothing took three times as long). The
    days are an uncorrelated subquery, so Postgres computes them once per statement, as a
    multirange, and each gig costs one lookup in it. `on` is today's placeholder.
    """
    return (
        "NOT (g.date <@ coalesce((SELECT range_agg(d.days) FROM ("
        " SELECT daterange(u.starts_on, u.ends_on, '[]') AS days FROM artist_unavailability u"
        f" WHERE u.artist_id = {artist} AND u.ends_on >= {on}"
        " UNION ALL SELECT daterange(og.date, og.date, '[]') FROM gig_applications oa"
        f" JOIN gigs og ON og.id = oa.gig_id WHERE oa.artist_id = {artist}"
        f" AND oa.status = 'accepted' AND og.status <> 'cancelled' AND og.date >= {on}"
        ") d), datemultirange()))"
    )
