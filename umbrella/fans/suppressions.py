"""Suppressions and unsubscribes: addresses an artist must never message again on a channel.

A suppression (unsubscribe, STOP, bounce, complaint) is per artist, channel and address;
nothing here ever clears one except a START text (`webhooks.py`). An unsubscribe link
names a broadcast delivery (`unsubscribe.py`), whose row says which artist and address.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.errors import NotFound
from umbrella.fans.unsubscribe import delivery_of
from umbrella.piccolo_conf import DB

# -- suppressions ---------------------------------------------------------------------------------

# Who "an artist" is for an address: every artist with it on a list, or who already sent to
# it on the channel (so re-importing an old file cannot undo a STOP or a bounce).
# The statement around it binds the channel as $1 and the address as $2.
_ARTISTS_OF_ADDRESS = """
    SELECT l.artist_id FROM contact_list_members m JOIN contact_lists l ON l.id = m.list_id
    WHERE m.{column} = $2
    UNION
    SELECT b.artist_id FROM broadcast_deliveries d
    JOIN broadcast_messages b ON b.id = d.broadcast_id
    WHERE d.channel = $1 AND d.address = $2
"""


async def suppress(*, artist_id: UUID, channel: str, address: str, reason: str) -> bool:
    """Stop an artist's messages to an address on a channel; False when it already was."""
    added = await db.fetch(
        "INSERT INTO fan_suppressions (id, artist_id, channel, address, reason, created_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4, now())"
        " ON CONFLICT (artist_id, channel, address) DO NOTHING RETURNING id",
        artist_id,
        channel,
        address,
        reason,
    )
    return bool(added)


async def suppress_everywhere(*, channel: str, address: str, reason: str) -> int:
    """Suppress an address for every artist who has it on a list or sent to it; how many new."""
    column = "email" if channel == "email" else "phone"
    added = await db.fetch(
        "INSERT INTO fan_suppressions (id, artist_id, channel, address, reason, created_at)"
        " SELECT gen_random_uuid(), artist_id, $1, $2, $3, now() FROM ("
        + _ARTISTS_OF_ADDRESS.format(column=column)
        + ") a ON CONFLICT (artist_id, channel, address) DO NOTHING RETURNING id",
        channel,
        address,
        reason,
    )
    return len(added)


@dataclass(frozen=True)
class EmailDelivery:
    artist_id: UUID
    address: str


async def get_email_delivery(*, email_id: str) -> EmailDelivery | None:
    """The broadcast email Resend knows by `email_id`: its artist and address; None if not ours."""
    rows = await db.fetch(
        "SELECT b.artist_id, d.address FROM broadcast_deliveries d"
        " JOIN broadcast_messages b ON b.id = d.broadcast_id"
        " WHERE d.provider_message_id = $1 AND d.channel = 'email' LIMIT 1",
        email_id,
    )
    if not rows:
        return None
    return EmailDelivery(artist_id=rows[0]["artist_id"], address=rows[0]["address"])


async def delete_stop_suppressions(*, phone: str) -> int:
    """Lift the STOPs of a number (it texted START); other reasons stay. How many lifted."""
    lifted = await db.fetch(
        "DELETE FROM fan_suppressions WHERE channel = 'sms' AND address = $1 AND reason = 'stop'"
        " RETURNING id",
        phone,
    )
    return len(lifted)


# -- unsubscribe -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscription:
    """What an unsubscribe link is about: whose messages, and whether it already took effect."""

    artist_id: UUID
    artist_name: str
    channel: str
    address: str
    unsubscribed: bool


async def _unsubscription(settings: Settings, token: str) -> Unsubscription:
    delivery_id = delivery_of(settings, token)
    rows = await db.fetch(
        "SELECT b.artist_id, a.stage_name, d.channel, d.address,"
        " EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = b.artist_id"
        "   AND s.channel = d.channel AND s.address = d.address) AS unsubscribed"
        " FROM broadcast_deliveries d"
        " JOIN broadcast_messages b ON b.id = d.broadcast_id"
        " JOIN artists a ON a.id = b.artist_id"
        " WHERE d.id = $1",
        delivery_id,
    )
    if not rows:
        # A valid signature for a delivery that is gone (the artist deleted their account).
        raise NotFound("This unsubscribe link is no longer valid.", field="token")
    row = rows[0]
    return Unsubscription(
        artist_id=row["artist_id"],
        artist_name=row["stage_name"],
        channel=row["channel"],
        address=row["address"],
        unsubscribed=row["unsubscribed"],
    )


async def get_unsubscription(*, settings: Settings, token: str) -> Unsubscription:
    """Whose messages an unsubscribe link stops; 404 `token` for a forged or stale link."""
    return await _unsubscription(settings, token)


async def create_unsubscription(*, settings: Settings, token: str) -> Unsubscription:
    """Unsubscribe the address of a delivery from its artist's messages, at once (idempotent)."""
    found = await _unsubscription(settings, token)
    opt_in = "email_opt_in" if found.channel == "email" else "sms_opt_in"
    column = "email" if found.channel == "email" else "phone"
    async with DB.transaction():
        await suppress(
            artist_id=found.artist_id,
            channel=found.channel,
            address=found.address,
            reason="unsubscribe",
        )
        # The consent is withdrawn on every list of that artist, not only the one mailed.
        await db.fetch(
            f"UPDATE contact_list_members m SET {opt_in} = false, updated_at = now()"
            f" FROM contact_lists l WHERE l.id = m.list_id AND l.artist_id = $1"
            f" AND m.{column} = $2 AND m.{opt_in}",
            found.artist_id,
            found.address,
        )
    return Unsubscription(
        artist_id=found.artist_id,
        artist_name=found.artist_name,
        channel=found.channel,
        address=found.address,
        unsubscribed=True,
    )
