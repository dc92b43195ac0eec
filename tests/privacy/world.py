"""Two artists and a venue with rows in every table, and real objects in the bucket.

S and O are artists who also posted a gig each (the schema lets any user be a venue, so one
account can hold rows in every table). V is a venue whose gigs both artists applied to.
S and O follow and review each other, share a conversation and play each other's gig.
Every row a user holds alone is recorded in `own`, so a test can tell theirs from shared.
"""

from __future__ import annotations

import io
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from aiohttp import web
from piccolo.table import Table

from tests.factories import bearer_for, make_artist, make_user
from umbrella.accounts.service import hash_token
from umbrella.accounts.tables import User
from umbrella.core.storage import Storage
from umbrella.gigs.terms import record_terms
from umbrella.piccolo_conf import APP_REGISTRY

NOW = datetime.now(UTC)


async def sql(query: str, *args: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await User.raw(query, *args)
    return rows


async def insert(table: str, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join("{}" for _ in values)
    await sql(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", *values.values())


@dataclass
class Person:
    user_id: UUID
    email: str
    phone: str | None = None
    artist_id: UUID | None = None
    headers: dict[str, str] = field(default_factory=dict)
    own: dict[str, set[str]] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)

    def owns(self, table: str, row_id: object) -> None:
        self.own.setdefault(table, set()).add(str(row_id))


@dataclass
class World:
    s: Person
    o: Person
    v: Person
    shared_conversation: UUID
    gigs: dict[str, UUID]


def new_id() -> UUID:
    return uuid.uuid4()


async def put_object(store: Storage, key: str, body: bytes = b"data") -> None:
    await store.client.put_object(store.bucket, key, io.BytesIO(body), len(body))


async def keys_under(store: Storage, prefix: str) -> list[str]:
    return [
        found.object_name
        async for found in store.client.list_objects(store.bucket, prefix=prefix, recursive=True)
        if found.object_name
    ]


async def object_exists(store: Storage, key: str) -> bool:
    return await store.stat(key) is not None


async def _person(app: web.Application, name: str, *, artist: bool, role: str) -> Person:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    # One number per name (Ofcom's drama range): two people never share one.
    phone = f"+4420794609{10 + sum(map(ord, name)) % 90:02d}"
    user_id = await make_user(role=role, email=email, onboarding_complete=True, phone=phone)
    person = Person(user_id=user_id, email=email, phone=phone)
    person.owns("users", user_id)
    if artist:
        _, artist_id = await make_artist(
            user_id=user_id, stage_name=name.title(), legal_name=f"{name.title()} Legal"
        )
        person.artist_id = artist_id
        person.owns("artists", artist_id)
    person.headers = await bearer_for(app, user_id)
    token = person.headers["Authorization"].removeprefix("Bearer ")
    person.owns("sessions", hash_token(token))
    return person


async def _conversation(a: UUID, b: UUID) -> UUID:
    low, high = sorted([a, b])
    conversation_id = new_id()
    await insert(
        "conversations",
        id=conversation_id,
        participant_1_id=low,
        participant_2_id=high,
        last_message_at=NOW,
        last_message_preview="hello",
    )
    return conversation_id


async def _message(
    store: Storage, conversation_id: UUID, sender: UUID, *, attachment: bool = False
) -> tuple[UUID, str | None]:
    message_id = new_id()
    key = f"attachments/{conversation_id}/{message_id}-photo.jpg" if attachment else None
    await insert(
        "messages",
        id=message_id,
        conversation_id=conversation_id,
        sender_id=sender,
        content="See you at the show",
        attachment_key=key,
        attachment_name="photo.jpg" if key else None,
        attachment_size=4 if key else None,
        attachment_mime="image/jpeg" if key else None,
    )
    if key:
        await put_object(store, key)
    return message_id, key


async def _own_rows(store: Storage, me: Person, venue: Person, gigs: dict[str, UUID]) -> None:
    """Rows and objects that belong to `me` alone."""
    artist_id = me.artist_id
    assert artist_id is not None

    track_id = new_id()
    track_key = f"tracks/{artist_id}/{track_id}.mp3"
    await insert(
        "tracks",
        id=track_id,
        artist_id=artist_id,
        title="Night Drive",
        file_key=track_key,
        size_bytes=4,
        mime_type="audio/mpeg",
        spotify_url="https://open.spotify.com/track/x",
        play_count=12,
    )
    me.owns("tracks", track_id)

    invitation_id = new_id()
    fan_email = f"fan-{uuid.uuid4().hex[:6]}@example.com"
    await insert(
        "review_invitations",
        id=invitation_id,
        artist_id=artist_id,
        email=fan_email,
        token_hash=secrets.token_hex(32),
        expires_at=NOW + timedelta(days=30),
        used_at=NOW,
    )
    me.owns("review_invitations", invitation_id)
    review_id = new_id()
    await insert(
        "reviews",
        id=review_id,
        artist_id=artist_id,
        reviewer_email=fan_email,
        reviewer_name="A fan",
        rating=3,
        comment="Great set",
        invitation_id=invitation_id,
    )
    me.owns("reviews", review_id)

    entry_id = new_id()
    await insert(
        "timeline_entries",
        id=entry_id,
        artist_id=artist_id,
        entry_type="release",
        occurred_on=date(2025, 5, 1),
        title="First EP",
    )
    me.owns("timeline_entries", entry_id)

    unavailable_id = new_id()
    await insert(
        "artist_unavailability",
        id=unavailable_id,
        artist_id=artist_id,
        starts_on=date(2026, 12, 24),
        ends_on=date(2026, 12, 26),
        note="Family",
    )
    me.owns("artist_unavailability", unavailable_id)

    for gig, status in (("g1", "accepted"), ("g2", "accepted"), ("g3", "pending")):
        application_id = new_id()
        await insert(
            "gig_applications",
            id=application_id,
            gig_id=gigs[gig],
            artist_id=artist_id,
            status=status,
            responded_at=None if status == "pending" else NOW,
            earned_amount=200 if gig == "g2" else None,
        )
        me.owns("gig_applications", application_id)
    favorite_id = new_id()
    await insert("gig_favorites", id=favorite_id, gig_id=gigs["g1"], artist_id=artist_id)
    me.owns("gig_favorites", favorite_id)
    venue_review_id = new_id()
    await insert(
        "venue_reviews",
        id=venue_review_id,
        gig_id=gigs["g2"],
        venue_user_id=venue.user_id,
        reviewer_artist_id=artist_id,
        rating=4,
        comment="Good sound",
    )
    me.owns("venue_reviews", venue_review_id)

    # Not in `own`: their key is the user id, which others' exports name too.
    await insert("inbox_versions", user_id=me.user_id, version=3)
    await insert("venue_stats", venue_id=me.user_id, completed_gigs=1, past_gigs=2)
    with_venue = await _conversation(me.user_id, venue.user_id)
    me.owns("conversations", with_venue)
    for sender in (me.user_id, venue.user_id):
        message_id, key = await _message(store, with_venue, sender, attachment=sender == me.user_id)
        me.owns("messages", message_id)
        if key:
            me.objects.append(key)

    folder_id, child_id = new_id(), new_id()
    await insert("folders", id=folder_id, artist_id=artist_id, name="Press")
    await insert(
        "folders", id=child_id, artist_id=artist_id, parent_folder_id=folder_id, name="2025"
    )
    me.owns("folders", folder_id)
    me.owns("folders", child_id)
    for file_key in (f"files/{artist_id}/{child_id}/kit.pdf", f"legacy/{artist_id}/old.pdf"):
        file_id = new_id()
        await insert(
            "files",
            id=file_id,
            artist_id=artist_id,
            folder_id=child_id,
            filename=file_key.rsplit("/", 1)[1],
            s3_key=file_key,
            size_bytes=4,
            mime_type="application/pdf",
            category="document",
        )
        me.owns("files", file_id)
        await put_object(store, file_key)
        me.objects.append(file_key)
    await insert("storage_quotas", artist_id=artist_id, used_bytes=12)
    me.owns("storage_quotas", artist_id)
    upload_id = new_id()
    await insert(
        "pending_uploads",
        id=upload_id,
        user_id=me.user_id,
        purpose="avatar",
        s3_key=f"uploads/{upload_id}.jpg",
        target_key=f"profiles/{artist_id}/avatar.jpg",
        declared_mime="image/jpeg",
        declared_size=4,
        expires_at=NOW + timedelta(minutes=15),
    )
    me.owns("pending_uploads", upload_id)
    for key in (
        f"uploads/{upload_id}.jpg",  # an upload the form wrote, not confirmed yet
        f"profiles/{artist_id}/avatar.jpg",
        f"profiles/{artist_id}/banner.jpg",
        track_key,
        f"media/{artist_id}/images/stage.jpg",
    ):
        await put_object(store, key)
        me.objects.append(key)

    list_id, member_id, broadcast_id = new_id(), new_id(), new_id()
    await insert("contact_lists", id=list_id, artist_id=artist_id, name="Newsletter")
    await insert(
        "contact_list_members",
        id=member_id,
        list_id=list_id,
        email=f"member-{uuid.uuid4().hex[:6]}@example.com",
        phone="+33612345678",
        name="Member",
        email_opt_in=True,
        sms_opt_in=True,
        email_consent_at=NOW,
        consent_source="form",
        consent_ip="203.0.113.7",
    )
    await insert(
        "broadcast_messages",
        id=broadcast_id,
        artist_id=artist_id,
        subject="New EP",
        body="Out now",
        channels="email",
        recipient_count=1,
        status="sent",
        sent_at=NOW,
    )
    await insert("broadcast_lists", broadcast_id=broadcast_id, list_id=list_id)
    delivery_id = new_id()
    await insert(
        "broadcast_deliveries",
        id=delivery_id,
        broadcast_id=broadcast_id,
        member_id=member_id,
        channel="email",
        address="member@example.com",
        status="sent",
        sent_at=NOW,
    )
    suppression_id = new_id()
    await insert(
        "fan_suppressions",
        id=suppression_id,
        artist_id=artist_id,
        channel="email",
        address="gone@example.com",
        reason="unsubscribe",
    )
    for table, row_id in (
        ("contact_lists", list_id),
        ("contact_list_members", member_id),
        ("broadcast_messages", broadcast_id),
        ("broadcast_lists", broadcast_id),
        ("broadcast_deliveries", delivery_id),
        ("fan_suppressions", suppression_id),
    ):
        me.owns(table, row_id)

    journal_id, goal_id, metric_id, usage_id, notification_id = (new_id() for _ in range(5))
    await insert(
        "journal_entries",
        id=journal_id,
        artist_id=artist_id,
        title="Ideas",
        blocks=json.dumps([{"type": "text", "text": "a chorus"}]),
    )
    await insert(
        "goals",
        id=goal_id,
        artist_id=artist_id,
        title="100 fans",
        goal_type="custom",
        target_value=100,
    )
    await insert(
        "daily_metrics", id=metric_id, artist_id=artist_id, date=date(2025, 5, 2), followers=2
    )
    await insert("profile_view_counts", artist_id=artist_id, date=date(2025, 5, 2), views=7)
    await insert("track_play_counts", artist_id=artist_id, date=date(2025, 5, 2), plays=3)
    await insert(
        "violet_usage",
        id=usage_id,
        artist_id=artist_id,
        usage_date=date(2025, 5, 2),
        feature="songwriting",
        prompt="a rhyme for orange",
    )
    await insert(
        "notifications",
        id=notification_id,
        user_id=me.user_id,
        kind="welcome",
        channel="email",
        recipient=me.email,
        payload=json.dumps({"name": "x"}),
    )
    for table, row_id in (
        ("journal_entries", journal_id),
        ("goals", goal_id),
        ("daily_metrics", metric_id),
        ("profile_view_counts", artist_id),
        ("track_play_counts", artist_id),
        ("violet_usage", usage_id),
        ("notifications", notification_id),
    ):
        me.owns(table, row_id)
    feed_id = new_id()
    await insert(
        "calendar_feeds",
        id=feed_id,
        user_id=me.user_id,
        token_hash=hash_token(secrets.token_urlsafe(32)),
        last_used_at=NOW,
    )
    me.owns("calendar_feeds", feed_id)
    alert_id, alert_send_id = new_id(), new_id()
    await insert(
        "gig_alerts",
        id=alert_id,
        artist_id=artist_id,
        name="Austin indie",
        filters=json.dumps({"genres": ["indie"], "city": "Austin"}),
    )
    # Keyed by the artist id, which others' exports show too: not an owned row id.
    await insert("gig_alert_digests", artist_id=artist_id, last_day=NOW.date(), last_cutoff=NOW)
    await insert("gig_alert_sends", id=alert_send_id, artist_id=artist_id, gig_id=gigs["g1"])
    me.owns("gig_alerts", alert_id)
    me.owns("gig_alert_sends", alert_send_id)


async def _gig(venue: UUID, title: str, *, capacity: int, status: str = "open") -> UUID:
    gig_id = new_id()
    await insert(
        "gigs",
        id=gig_id,
        venue_id=venue,
        title=title,
        venue_name="The Hall",
        city="Austin",
        state="TX",
        date=date(2026, 6, 1),
        payment_amount=300,
        capacity=capacity,
        status=status,
        completed_at=NOW if status == "completed" else None,
        shuffle_key=secrets.randbelow(1000),
    )
    return gig_id


async def recount() -> None:
    """Make every counter agree with the rows, as the services keep them."""
    await sql(
        "UPDATE artists a SET"
        " follower_count = (SELECT count(*) FROM artist_followers f WHERE f.artist_id = a.id),"
        " total_reviews = (SELECT count(*) FROM reviews r WHERE r.artist_id = a.id),"
        " avg_rating = coalesce((SELECT round(avg(rating), 2) FROM reviews r"
        "                        WHERE r.artist_id = a.id), 0)"
    )
    # Fill first, then set the status the slots call for (gigs_open_check / gigs_filled_check).
    await sql(
        "UPDATE gigs g SET filled_slots = (SELECT count(*) FROM gig_applications a"
        "  WHERE a.gig_id = g.id AND a.status = 'accepted'),"
        " status = CASE WHEN g.status = 'completed' THEN 'completed'"
        "  WHEN (SELECT count(*) FROM gig_applications a WHERE a.gig_id = g.id"
        "        AND a.status = 'accepted') = g.capacity THEN 'filled' ELSE 'open' END"
    )


async def build_world(app: web.Application, store: Storage) -> World:
    s = await _person(app, "sol", artist=True, role="artist")
    o = await _person(app, "ode", artist=True, role="artist")
    v = await _person(app, "venue", artist=False, role="venue")
    gigs = {
        "g1": await _gig(v.user_id, "Two slots", capacity=2),
        "g2": await _gig(v.user_id, "Played", capacity=2, status="completed"),
        "g3": await _gig(v.user_id, "Pending", capacity=1),
    }
    for me in (s, o):
        gigs[f"own-{me.user_id}"] = own_gig = await _gig(me.user_id, "Own night", capacity=3)
        me.owns("gigs", own_gig)
        await _own_rows(store, me, v, gigs)

    shared = await _conversation(s.user_id, o.user_id)
    for sender in (s.user_id, o.user_id):
        _, key = await _message(store, shared, sender, attachment=sender == s.user_id)
        if key:
            s.objects.append(key)  # the conversation goes with whichever of them leaves

    for me, other, rating in ((s, o, 1), (o, s, 4)):
        assert me.artist_id is not None
        assert other.artist_id is not None
        await insert(
            "artist_followers",
            id=new_id(),
            artist_id=other.artist_id,
            follower_user_id=me.user_id,
        )
        await insert(
            "reviews",
            id=new_id(),
            artist_id=other.artist_id,
            reviewer_user_id=me.user_id,
            reviewer_email=me.email,
            reviewer_name="A fellow artist",
            rating=rating,
        )
        own_gig = gigs[f"own-{me.user_id}"]
        await insert(
            "gig_applications",
            id=new_id(),
            gig_id=own_gig,
            artist_id=other.artist_id,
            status="accepted",
            responded_at=NOW,
        )
        await insert(
            "venue_reviews",
            id=new_id(),
            gig_id=own_gig,
            venue_user_id=me.user_id,
            reviewer_artist_id=other.artist_id,
            rating=5,
        )
    for artist in (s, o):
        assert artist.artist_id is not None
        await insert(
            "artist_followers",
            id=new_id(),
            artist_id=artist.artist_id,
            follower_user_id=v.user_id,
        )
        await insert(
            "reviews",
            id=new_id(),
            artist_id=artist.artist_id,
            reviewer_user_id=v.user_id,
            reviewer_email=v.email,
            rating=5,
            gig_id=gigs["g2"],
        )
    # Every booking has its agreed terms, as accepting writes them (issue 25).
    for booking in await sql("SELECT id FROM gig_applications WHERE status = 'accepted'"):
        await record_terms(booking["id"])
    await recount()
    return World(s=s, o=o, v=v, shared_conversation=shared, gigs=gigs)


# -- the schema, read from the Piccolo registry ----------------------------------------------


def all_tables() -> list[type[Table]]:
    return [table for app in APP_REGISTRY.app_configs.values() for table in app.table_classes]


def user_data_tables() -> set[str]:
    """Every table with a foreign-key path to `users`: each holds someone's data."""
    found = {"users"}
    while True:
        more = {
            table._meta.tablename
            for table in all_tables()
            for column in table._meta.foreign_key_columns
            if column._foreign_key_meta.resolved_references._meta.tablename in found
        } - found
        if not more:
            return found
        found |= more


async def reachable_rows(user_id: UUID) -> dict[str, set[str]]:
    """The primary keys of every row that references the user, directly or through others."""
    reached: dict[str, set[str]] = {"users": {str(user_id)}}
    changed = True
    while changed:
        changed = False
        for table in all_tables():
            name = table._meta.tablename
            key = table._meta.primary_key._meta.db_column_name
            for column in table._meta.foreign_key_columns:
                parent = column._foreign_key_meta.resolved_references._meta.tablename
                if not reached.get(parent):
                    continue
                rows = await sql(
                    f"SELECT {key}::text AS key FROM {name}"
                    f" WHERE {column._meta.db_column_name}::text = ANY({{}}::text[])",
                    sorted(reached[parent]),
                )
                new = {row["key"] for row in rows} - reached.get(name, set())
                if new:
                    reached.setdefault(name, set()).update(new)
                    changed = True
    return reached


async def still_there(reached: dict[str, set[str]]) -> dict[str, list[str]]:
    """Of these rows, those that exist, and any row still pointing at one of them."""
    found: dict[str, list[str]] = {}
    for table in all_tables():
        name = table._meta.tablename
        key = table._meta.primary_key._meta.db_column_name
        if reached.get(name):
            rows = await sql(
                f"SELECT {key}::text AS key FROM {name} WHERE {key}::text = ANY({{}}::text[])",
                sorted(reached[name]),
            )
            found.update({f"{name}.{key}": [r["key"] for r in rows]} if rows else {})
        for column in table._meta.foreign_key_columns:
            parent = column._foreign_key_meta.resolved_references._meta.tablename
            fk = column._meta.db_column_name
            if reached.get(parent):
                rows = await sql(
                    f"SELECT {key}::text AS key FROM {name} WHERE {fk}::text = ANY({{}}::text[])",
                    sorted(reached[parent]),
                )
                found.update({f"{name}.{fk}": [r["key"] for r in rows]} if rows else {})
    return found


async def count_rows(table: str, column: str, ids: set[str]) -> int:
    rows = await sql(
        f"SELECT count(*) AS n FROM {table} WHERE {column}::text = ANY({{}}::text[])", sorted(ids)
    )
    return int(rows[0]["n"])


# -- a worker with S3 -------------------------------------------------------------------------
