"""The table of the follows domain: who follows which artist."""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, OnDelete, Timestamptz
from piccolo.constraints import Unique
from piccolo.table import Table

from umbrella.accounts.tables import User
from umbrella.artists.tables import Artist


class ArtistFollower(Table, tablename="artist_followers"):
    """A user following an artist."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    follower_user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()

    artist_followers_artist_id_follower_user_id_key = Unique(["artist_id", "follower_user_id"])
