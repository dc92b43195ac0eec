"""The table of the portfolio domain: an artist's tracks."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.artists.tables import Artist


class Track(Table, tablename="tracks"):
    """A portfolio track: an uploaded file and/or streaming links, in display order."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    title = Varchar(length=200)
    genre = Varchar(length=50, null=True, default=None)
    duration_seconds = Integer(null=True, default=None)
    file_key = Varchar(length=1024, null=True, default=None)
    size_bytes = BigInt(null=True, default=None)
    mime_type = Varchar(length=100, null=True, default=None)
    spotify_url = Varchar(length=500, null=True, default=None)
    apple_music_url = Varchar(length=500, null=True, default=None)
    soundcloud_url = Varchar(length=500, null=True, default=None)
    display_order = Integer(default=0)
    play_count = BigInt(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    tracks_file_key_key = Unique(["file_key"])
    tracks_title_check = Check("char_length(btrim(title)) >= 1")
    tracks_duration_seconds_check = Check("duration_seconds >= 0")
    tracks_file_check = Check(
        "(file_key IS NULL) = (size_bytes IS NULL) AND (file_key IS NULL) = (mime_type IS NULL)"
    )
    tracks_size_bytes_check = Check("size_bytes >= 0")
    tracks_display_order_check = Check("display_order >= 0")
    tracks_play_count_check = Check("play_count >= 0")
