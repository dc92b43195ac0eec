"""Request and response models of the portfolio: tracks, their upload and their order."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from umbrella.artists.genres import Genre
from umbrella.storage.uploads import UploadRequestIn, UploadTicketOut

MAX_TRACKS = 50  # per artist: the portfolio is one bounded list, never paged
MAX_URL_LENGTH = 500  # the tracks.*_url columns

# The hosts each streaming service shares links from (https only).
STREAMING_HOSTS: dict[str, frozenset[str]] = {
    "spotify_url": frozenset({"open.spotify.com", "spotify.link"}),
    "apple_music_url": frozenset({"music.apple.com", "geo.music.apple.com"}),
    "soundcloud_url": frozenset(
        {"soundcloud.com", "www.soundcloud.com", "m.soundcloud.com", "on.soundcloud.com"}
    ),
}
STREAMING_FIELDS = tuple(STREAMING_HOSTS)


def _link_of(service: str, hosts: frozenset[str]) -> AfterValidator:
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or parts.hostname not in hosts or parts.username:
            raise ValueError(f"give an https link of {service} ({', '.join(sorted(hosts))})")
        if any(char.isspace() for char in value):
            raise ValueError("a link contains no spaces")
        return value

    return AfterValidator(check)


_LinkText = StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH)
SpotifyUrl = Annotated[str, _LinkText, _link_of("Spotify", STREAMING_HOSTS["spotify_url"])]
AppleMusicUrl = Annotated[
    str, _LinkText, _link_of("Apple Music", STREAMING_HOSTS["apple_music_url"])
]
SoundcloudUrl = Annotated[str, _LinkText, _link_of("SoundCloud", STREAMING_HOSTS["soundcloud_url"])]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Ten hours: longer than any release, short enough to catch a value in milliseconds.
Duration = Annotated[int, Field(strict=True, ge=0, le=36_000)]


class TrackUploadIn(UploadRequestIn):
    """Ask for an upload of one audio file (MP3, WAV or FLAC, at most 50 MB)."""

    filename: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
        | None
    ) = None


class TrackUploadOut(UploadTicketOut):
    """The upload ticket, and the id the track will have once created."""

    track_id: UUID = Field(description="The id the track will have.")


class TrackCreateIn(BaseModel):
    """A new track: an uploaded file (`upload_id`), streaming links, or both."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    genre: Genre | None = None
    duration_seconds: Duration | None = None
    spotify_url: SpotifyUrl | None = None
    apple_music_url: AppleMusicUrl | None = None
    soundcloud_url: SoundcloudUrl | None = None
    upload_id: UUID | None = None


class TrackUpdateIn(BaseModel):
    """Change what is sent; `null` clears a link (a track keeps a file or at least one link)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    genre: Genre | None = None
    duration_seconds: Duration | None = None
    spotify_url: SpotifyUrl | None = None
    apple_music_url: AppleMusicUrl | None = None
    soundcloud_url: SoundcloudUrl | None = None


class TrackOrderIn(BaseModel):
    """Every track of the artist, each once, in the order the portfolio shows them."""

    model_config = ConfigDict(extra="forbid")

    track_ids: list[UUID] = Field(max_length=MAX_TRACKS)


class TrackOut(BaseModel):
    id: UUID
    artist_id: UUID
    title: str
    genre: str | None
    duration_seconds: int | None
    spotify_url: str | None
    apple_music_url: str | None
    soundcloud_url: str | None
    has_audio: bool
    audio_url: str | None = Field(
        description="A link to the uploaded audio, valid for one hour; null without a file."
    )
    mime_type: str | None
    size_bytes: int | None
    display_order: int
    play_count: int = Field(
        description="Counted on every play; a cached profile may show it up to an hour late."
    )
    created_at: datetime
    updated_at: datetime


class PortfolioOut(BaseModel):
    artist_id: UUID
    tracks: list[TrackOut] = Field(
        description="In display order (then oldest first); at most `max_tracks`."
    )
    max_tracks: int


class DeletedOut(BaseModel):
    deleted: bool


class PlayOut(BaseModel):
    track_id: UUID
    play_count: int
