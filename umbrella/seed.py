"""Demo data for `umbrella dev` and `umbrella seed`: idempotent, so every run leaves the same rows.

Ids are derived from fixed names (uuid5), and every insert is `ON CONFLICT DO NOTHING`;
open demo gigs whose date has passed are moved forward, so the marketplace never looks empty.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import asyncpg

from umbrella.config import Settings
from umbrella.core import db

NAMESPACE = uuid.UUID("6f1d2c39-7a51-4e0e-9b7c-2f1f0e7d4a10")


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


@dataclass(frozen=True)
class DemoArtist:
    key: str
    stage_name: str
    email: str
    city: str
    state: str
    genre: str
    secondary: tuple[str, ...]
    tagline: str
    flat_rate: Decimal
    hourly_rate: Decimal
    verified: bool


ARTISTS = (
    DemoArtist("luna", "Luna Vega", "luna@demo.umbrella.test", "Austin", "TX", "indie",
               ("folk", "singer_songwriter"), "Late-night songs for early risers", Decimal("450"),
               Decimal("120"), True),
    DemoArtist("marcus", "Marcus Reed Trio", "marcus@demo.umbrella.test", "Nashville", "TN",
               "jazz", ("soul", "blues"), "Standards, swung hard", Decimal("900"),
               Decimal("200"), True),
    DemoArtist("kai", "DJ Kai", "kai@demo.umbrella.test", "Los Angeles", "CA", "electronic",
               ("house", "hip_hop"), "Four hours, no skips", Decimal("700"), Decimal("150"),
               False),
    DemoArtist("rosa", "Rosa & The Pines", "rosa@demo.umbrella.test", "Denver", "CO", "country",
               ("americana", "folk"), "Mountain harmonies", Decimal("600"), Decimal("140"), False),
)  # fmt: skip

VENUES = (
    ("bluebird", "The Bluebird Room", "bookings@bluebird.demo.umbrella.test", "Austin", "TX"),
    ("harbor", "Harbor Hall", "events@harbor.demo.umbrella.test", "Nashville", "TN"),
)

# (key, venue key, title, genre, days from today, payment, type, capacity)
GIGS = (
    ("friday-folk", "bluebird", "Friday Folk Night", "folk", 3, Decimal("400"), "flat", 2),
    ("jazz-brunch", "harbor", "Sunday Jazz Brunch", "jazz", 6, Decimal("150"), "hourly", 1),
    ("indie-showcase", "bluebird", "Indie Showcase", "indie", 12, Decimal("300"), "flat", 4),
    ("late-set", "harbor", "Late Set: Electronic", "electronic", 20, Decimal("650"), "flat", 1),
    ("songwriter-round", "bluebird", "Songwriter Round", "country", 27, None, "negotiable", 3),
    ("summer-block", "harbor", "Summer Block Party", "hip_hop", 40, Decimal("1200"), "flat", 5),
)


async def seed_demo(settings: Settings) -> str:
    """Write the demo artists, venues, gigs and a conversation; return a one-line summary."""
    async with db.database(settings, application_name="umbrella-seed") as engine:
        assert engine.pool is not None
        async with engine.pool.acquire() as connection, connection.transaction():
            await _seed(connection)
    return (
        f"demo data ready: {len(ARTISTS)} artists, {len(VENUES)} venues, "
        f"{len(GIGS)} open gigs, {len(APPLICATIONS)} applications, 1 conversation, "
        f"{len(TRACKS)} tracks, {len(REVIEWS)} reviews"
    )


async def _seed(connection: asyncpg.Connection) -> None:
    for artist in ARTISTS:
        user_id = demo_id(f"user:{artist.key}")
        await _user(connection, user_id, artist.email, artist.stage_name, "artist")
        await connection.execute(
            """
            INSERT INTO artists (
                id, user_id, stage_name, pronouns, city, state, country, bio, story, tagline,
                primary_genre, secondary_genres, influences, performance_types, equipment, daw,
                platforms, flat_rate, hourly_rate, rates_negotiable, travel_radius_miles,
                available_weekdays, available_weekends, advance_booking_weeks, years_performing,
                biggest_gig, dream_collaboration, makes_music, confident_online, struggles_niche,
                knows_gig_sources, paid_fairly, understands_royalties, website_url,
                instagram_url, spotify_url, verified
            ) VALUES (
                $1, $2, $3, 'they/them', $4, $5, 'US', $6, $7, $8, $9, $10,
                ARRAY['Joni Mitchell', 'Nina Simone'], ARRAY['live band', 'solo acoustic'],
                ARRAY['PA system', 'in-ear monitors'], 'Ableton Live', ARRAY['spotify', 'bandcamp'],
                $11, $12, true, 150, true, true, 3, 8, 'Opening at the city festival main stage',
                'A session with Bon Iver', true, true, false, true, false, true,
                $13, $14, $15, $16
            ) ON CONFLICT (id) DO NOTHING
            """,
            demo_id(f"artist:{artist.key}"),
            user_id,
            artist.stage_name,
            artist.city,
            artist.state,
            f"{artist.stage_name} plays {artist.genre} across {artist.state}.",
            "Started busking at sixteen; never stopped.",
            artist.tagline,
            artist.genre,
            list(artist.secondary),
            artist.flat_rate,
            artist.hourly_rate,
            f"https://{artist.key}.demo.umbrella.test",
            f"https://instagram.com/{artist.key}.music",
            f"https://open.spotify.com/artist/{artist.key}",
            artist.verified,
        )
        await connection.execute(
            "INSERT INTO storage_quotas (artist_id) VALUES ($1) ON CONFLICT (artist_id) DO NOTHING",
            demo_id(f"artist:{artist.key}"),
        )

    for key, name, email, _city, _state in VENUES:
        await _user(connection, demo_id(f"user:{key}"), email, name, "venue")

    venues = {key: (name, city, state) for key, name, _email, city, state in VENUES}
    today = datetime.now(UTC).date()
    for key, venue, title, genre, days, amount, payment_type, capacity in GIGS:
        name, city, state = venues[venue]
        gig_date = today + timedelta(days=days)
        await connection.execute(
            """
            INSERT INTO gigs (
                id, venue_id, title, description, venue_name, city, state, address, zip,
                date, start_time, end_time, genre, payment_amount, payment_type, capacity
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, '100 Main St', '78701', $8, $9, $10, $11,
                      $12, $13, $14)
            ON CONFLICT (id) DO UPDATE SET date = EXCLUDED.date
                WHERE gigs.status = 'open' AND gigs.date < current_date
            """,
            demo_id(f"gig:{key}"),
            demo_id(f"user:{venue}"),
            title,
            f"{title} at {name}. Bring your own instruments; backline provided.",
            name,
            city,
            state,
            gig_date,
            time(20, 0),
            time(23, 0),
            genre,
            amount,
            payment_type,
            capacity,
        )

    await _marketplace(connection, today)
    await _conversation(connection, today)
    await _showcase(connection, today)


# (artist key, gig key): applications waiting for the demo venues' answer
APPLICATIONS = (("luna", "friday-folk"), ("rosa", "friday-folk"), ("marcus", "jazz-brunch"))
FAVORITES = (("luna", "indie-showcase"), ("kai", "late-set"))


async def _marketplace(connection: asyncpg.Connection, today: date) -> None:
    """Applications a demo venue can answer, saved gigs, and urgency flags (D-010) as the cron
    would set them."""
    for artist, gig in APPLICATIONS:
        await connection.execute(
            "INSERT INTO gig_applications (id, gig_id, artist_id, message) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (gig_id, artist_id) DO NOTHING",
            demo_id(f"application:{artist}:{gig}"),
            demo_id(f"gig:{gig}"),
            demo_id(f"artist:{artist}"),
            "Would love to play this one: my set fits the room.",
        )
    for artist, gig in FAVORITES:
        await connection.execute(
            "INSERT INTO gig_favorites (gig_id, artist_id) VALUES ($1, $2)"
            " ON CONFLICT (gig_id, artist_id) DO NOTHING",
            demo_id(f"gig:{gig}"),
            demo_id(f"artist:{artist}"),
        )
    await connection.execute(
        "UPDATE gigs SET urgency_flag = (status = 'open' AND date - $1 BETWEEN 0 AND 7"
        " AND filled_slots * 2 < capacity) WHERE venue_id = ANY($2::uuid[])",
        today,
        [demo_id(f"user:{key}") for key, *_ in VENUES],
    )


async def _user(
    connection: asyncpg.Connection, user_id: uuid.UUID, email: str, name: str, role: str
) -> None:
    await connection.execute(
        """
        INSERT INTO users (id, oauth_provider, oauth_id, email, display_name, role,
                           onboarding_complete, onboarding_step)
        VALUES ($1, 'google', $2, $3, $4, $5, true, 5)
        ON CONFLICT (id) DO NOTHING
        """,
        user_id,
        f"demo-{user_id}",
        email,
        name,
        role,
    )


async def _conversation(connection: asyncpg.Connection, today: date) -> None:
    artist_user, venue_user = demo_id("user:luna"), demo_id("user:bluebird")
    first, second = sorted((artist_user, venue_user), key=str)
    conversation_id = demo_id("conversation:luna-bluebird")
    lines = (
        (artist_user, "Hi! I'd love to play Friday Folk Night. Is the 8pm slot still open?"),
        (venue_user, "It is. Can you do a 45-minute set? We provide backline."),
        (artist_user, "Perfect, 45 minutes works. See you Friday!"),
    )
    started = datetime.combine(today, time(9, 0), tzinfo=UTC) - timedelta(days=1)
    preview = lines[-1][1][:140]
    await connection.execute(
        """
        INSERT INTO conversations (id, participant_1_id, participant_2_id, last_message_at,
                                   last_activity_at, last_message_by, last_message_preview)
        VALUES ($1, $2, $3, $4, $4, $5, $6)
        ON CONFLICT (id) DO NOTHING
        """,
        conversation_id,
        first,
        second,
        started + timedelta(minutes=10 * (len(lines) - 1)),
        1 if lines[-1][0] == first else 2,
        preview,
    )
    for index, (sender, content) in enumerate(lines):
        await connection.execute(
            """
            INSERT INTO messages (id, conversation_id, sender_id, content, created_at, read_at)
            VALUES ($1, $2, $3, $4, $5, $5)
            ON CONFLICT (id) DO NOTHING
            """,
            demo_id(f"message:luna-bluebird:{index}"),
            conversation_id,
            sender,
            content,
            started + timedelta(minutes=10 * index),
        )


DEMO_LOGIN_EMAIL = ARTISTS[0].email


# (artist key, track title, Spotify track id) — streaming links only: no upload to seed.
TRACKS = (
    ("luna", "Desert Lights", "4uLU6hMCjMI75M1A2tKUQC"),
    ("luna", "Early Risers", "0VjIjW4GlUZAMYd2vXMi3b"),
    ("marcus", "Blue in Green (live)", "0aWMVrwxPNYkKmFthzmpRi"),
)
# (artist key, reviewer venue key, rating, comment)
REVIEWS = (
    ("luna", "bluebird", 5, "Packed room, perfect set. Booking again."),
    ("luna", "harbor", 4, "Lovely songs; started ten minutes late."),
    ("marcus", "harbor", 5, "The brunch crowd stayed for the whole set."),
)
# (follower key, followed artist key)
FOLLOWS = (("kai", "luna"), ("rosa", "luna"), ("luna", "marcus"))


async def _showcase(connection: asyncpg.Connection, today: date) -> None:
    """Tracks, timeline entries, reviews and follows, with the artists' totals to match."""
    for order, (artist, title, spotify_id) in enumerate(TRACKS):
        await connection.execute(
            "INSERT INTO tracks (id, artist_id, title, spotify_url, display_order)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            demo_id(f"track:{artist}:{title}"),
            demo_id(f"artist:{artist}"),
            title,
            f"https://open.spotify.com/track/{spotify_id}",
            order,
        )
    for artist in ("luna", "marcus"):
        for entry_type, title, days_ago in (
            ("release", "First EP out everywhere", 400),
            ("milestone", "1,000 monthly listeners", 120),
        ):
            await connection.execute(
                "INSERT INTO timeline_entries (id, artist_id, entry_type, occurred_on, title)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                demo_id(f"timeline:{artist}:{title}"),
                demo_id(f"artist:{artist}"),
                entry_type,
                today - timedelta(days=days_ago),
                title,
            )
    venue_emails = {key: email for key, _name, email, _city, _state in VENUES}
    venue_names = {key: name for key, name, _email, _city, _state in VENUES}
    for artist, venue, rating, comment in REVIEWS:
        await connection.execute(
            "INSERT INTO reviews (id, artist_id, reviewer_user_id, reviewer_email, reviewer_name,"
            " rating, comment) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            demo_id(f"review:{artist}:{venue}"),
            demo_id(f"artist:{artist}"),
            demo_id(f"user:{venue}"),
            venue_emails[venue],
            venue_names[venue],
            rating,
            comment,
        )
    for follower, artist in FOLLOWS:
        await connection.execute(
            "INSERT INTO artist_followers (artist_id, follower_user_id) VALUES ($1, $2)"
            " ON CONFLICT (artist_id, follower_user_id) DO NOTHING",
            demo_id(f"artist:{artist}"),
            demo_id(f"user:{follower}"),
        )
    # Totals from the rows, as the product keeps them.
    await connection.execute(
        """
        UPDATE artists a SET
            follower_count = (SELECT count(*) FROM artist_followers f WHERE f.artist_id = a.id),
            total_reviews = (SELECT count(*) FROM reviews r WHERE r.artist_id = a.id),
            avg_rating = (SELECT coalesce(round(avg(rating), 2), 0)
                          FROM reviews r WHERE r.artist_id = a.id)
        WHERE a.id = ANY($1::uuid[])
        """,
        [demo_id(f"artist:{artist.key}") for artist in ARTISTS],
    )
