"""Request and response models of onboarding, profiles, image uploads, timeline, unavailability.

Their field types (enums, bounds, text lengths) are in `fields.py`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from umbrella.accounts.schemas import NextStep
from umbrella.artists.fields import (
    EARLIEST_TIMELINE_DATE,
    TIMELINE_FUTURE_YEARS,
    AdvanceWeeks,
    Equipment,
    FlatRate,
    HourlyRate,
    Influences,
    IsoDate,
    OptText50,
    OptText100,
    OptText160,
    OptText200,
    OptText500,
    OptText2000,
    OptText5000,
    OptTimezone,
    OptUrl,
    PerformanceTypes,
    Platforms,
    SecondaryGenres,
    StrictBool,
    Text100,
    Text200,
    Text2000,
    TimelineEntryType,
    TravelRadius,
    YearsPerforming,
)
from umbrella.artists.genres import Genre
from umbrella.storage.uploads import UploadRequestIn


class _In(BaseModel):
    """A request body: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


def _secondary_without_primary(values: list[str] | None, info: ValidationInfo) -> Any:
    primary = info.data.get("primary_genre")
    if values and primary is not None and primary in values:
        raise ValueError("must not repeat the primary genre")
    return values


# -- onboarding (SPEC §3.1, D-006) -------------------------------------------------------

Role = Literal["artist", "venue", "admin"]


class RoleIn(_In):
    """Step 0: an artist goes on to step 1; a venue names itself and is done."""

    role: Literal["artist", "venue"]
    venue_name: OptText100 = Field(
        default=None,
        validate_default=True,
        description="Required for a venue (shown as its display name); not allowed for an artist.",
    )

    @field_validator("venue_name", mode="after")
    @classmethod
    def _venue_name_for_venues(cls, value: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if role == "venue" and value is None:
            raise ValueError("a venue needs its name")
        if role == "artist" and value is not None:
            raise ValueError("only a venue has a venue name")
        return value


class Step1In(_In):
    """Identity. Creates the artist profile (or updates it on a restart)."""

    stage_name: Text100
    legal_name: OptText200 = Field(default=None, description="Private: never public.")
    pronouns: OptText50 = None
    city: Text100
    state: OptText100 = None
    country: Text100


class Step2In(_In):
    """Bio and story."""

    bio: Text2000
    story: OptText5000 = None
    tagline: OptText160 = None


class Step3In(_In):
    """Creative profile."""

    primary_genre: Genre
    secondary_genres: SecondaryGenres = Field(default_factory=list)
    influences: Influences = Field(default_factory=list)
    performance_types: PerformanceTypes = Field(min_length=1)
    equipment: Equipment = Field(default_factory=list)
    daw: OptText100 = Field(default=None, description="Digital audio workstation.")
    platforms: Platforms = Field(default_factory=list)

    _secondary = field_validator("secondary_genres", mode="after")(_secondary_without_primary)


class Step4In(_In):
    """Rates and availability; a rate left out (null) is "ask me"."""

    flat_rate: FlatRate | None = None
    hourly_rate: HourlyRate | None = None
    rates_negotiable: StrictBool
    travel_radius_miles: TravelRadius | None = None
    available_weekdays: StrictBool
    available_weekends: StrictBool
    advance_booking_weeks: AdvanceWeeks | None = None


class Step5In(_In):
    """Quick questions; the six yes/no answers are private (they shape advice, not the profile)."""

    years_performing: YearsPerforming
    biggest_gig: OptText500 = None
    dream_collaboration: OptText500 = None
    makes_music: StrictBool
    confident_online: StrictBool
    struggles_niche: StrictBool
    knows_gig_sources: StrictBool
    paid_fairly: StrictBool
    understands_royalties: StrictBool


STEP_MODELS: dict[int, type[_In]] = {1: Step1In, 2: Step2In, 3: Step3In, 4: Step4In, 5: Step5In}


class OnboardingStatusOut(BaseModel):
    onboarding_complete: bool
    role: Role | None = Field(
        description="Null until the person has chosen a role (while `next_step` is `role`)."
    )
    onboarding_step: int = Field(description="The last step done in this visit (0: none).")
    next_step: NextStep | None = Field(
        description="`role`, `step1`..`step5`, or null once onboarding is complete."
    )
    steps_done: list[str] = Field(description="The artist steps done in this visit, in order.")
    has_artist_profile: bool


# -- profiles (SPEC §3.2) ----------------------------------------------------------------

# Columns a profile update may set; NOT NULL columns refuse null.
NOT_NULL_FIELDS = (
    "stage_name",
    "secondary_genres",
    "influences",
    "performance_types",
    "equipment",
    "platforms",
    "rates_negotiable",
    "available_weekdays",
    "available_weekends",
    "makes_music",
    "confident_online",
    "struggles_niche",
    "knows_gig_sources",
    "paid_fairly",
    "understands_royalties",
)
SOCIAL_URL_FIELDS = (
    "website_url",
    "instagram_url",
    "tiktok_url",
    "youtube_url",
    "spotify_url",
    "apple_music_url",
    "soundcloud_url",
    "bandcamp_url",
    "facebook_url",
    "twitter_url",
)


class ProfileUpdateIn(_In):
    """Any editable field; a field left out is unchanged, null clears an optional one."""

    stage_name: Text100 | None = None
    legal_name: OptText200 = None
    pronouns: OptText50 = None
    city: OptText100 = None
    state: OptText100 = None
    country: OptText100 = None
    bio: OptText2000 = None
    story: OptText5000 = None
    tagline: OptText160 = None
    primary_genre: Genre | None = None
    secondary_genres: SecondaryGenres | None = None
    influences: Influences | None = None
    performance_types: PerformanceTypes | None = None
    equipment: Equipment | None = None
    daw: OptText100 = None
    platforms: Platforms | None = None
    flat_rate: FlatRate | None = None
    hourly_rate: HourlyRate | None = None
    rates_negotiable: StrictBool | None = None
    travel_radius_miles: TravelRadius | None = None
    available_weekdays: StrictBool | None = None
    available_weekends: StrictBool | None = None
    advance_booking_weeks: AdvanceWeeks | None = None
    years_performing: YearsPerforming | None = None
    biggest_gig: OptText500 = None
    dream_collaboration: OptText500 = None
    makes_music: StrictBool | None = None
    confident_online: StrictBool | None = None
    struggles_niche: StrictBool | None = None
    knows_gig_sources: StrictBool | None = None
    paid_fairly: StrictBool | None = None
    understands_royalties: StrictBool | None = None
    website_url: OptUrl = None
    instagram_url: OptUrl = None
    tiktok_url: OptUrl = None
    youtube_url: OptUrl = None
    spotify_url: OptUrl = None
    apple_music_url: OptUrl = None
    soundcloud_url: OptUrl = None
    bandcamp_url: OptUrl = None
    facebook_url: OptUrl = None
    twitter_url: OptUrl = None
    timezone: OptTimezone = None

    @field_validator(*NOT_NULL_FIELDS, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent: a field left out keeps its value.
        if value is None:
            raise ValueError("cannot be cleared; send a value")
        return value

    _secondary = field_validator("secondary_genres", mode="after")(_secondary_without_primary)

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their new values."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class PublicProfileOut(BaseModel):
    """What anyone may see (docs/profiles.md: the public field list)."""

    id: UUID
    stage_name: str
    pronouns: str | None
    city: str | None
    state: str | None
    country: str | None
    bio: str | None
    story: str | None
    tagline: str | None
    primary_genre: str | None
    secondary_genres: list[str]
    influences: list[str]
    performance_types: list[str]
    equipment: list[str]
    daw: str | None
    platforms: list[str]
    # D-077: a venue weighs the rates an application carries.
    flat_rate: Decimal | None
    hourly_rate: Decimal | None
    rates_negotiable: bool
    travel_radius_miles: int | None
    available_weekdays: bool
    available_weekends: bool
    advance_booking_weeks: int | None
    years_performing: int | None
    biggest_gig: str | None
    dream_collaboration: str | None
    website_url: str | None
    instagram_url: str | None
    tiktok_url: str | None
    youtube_url: str | None
    spotify_url: str | None
    apple_music_url: str | None
    soundcloud_url: str | None
    bandcamp_url: str | None
    facebook_url: str | None
    twitter_url: str | None
    verified: bool
    avatar_url: str | None = Field(description="A download link valid for one hour.")
    banner_url: str | None = Field(description="A download link valid for one hour.")
    avg_rating: Decimal | None = Field(description="null while the artist has no reviews.")
    total_reviews: int
    total_gigs: int
    follower_count: int
    created_at: datetime

    @model_validator(mode="after")
    def _no_reviews_no_rating(self) -> PublicProfileOut:
        # The column keeps 0 for an unreviewed artist; shown, that reads as a bad rating.
        if self.total_reviews == 0:
            self.avg_rating = None
        return self


class ProfileOut(PublicProfileOut):
    """The caller's own profile: every field, the private ones included."""

    user_id: UUID
    email: str | None
    phone: str | None
    legal_name: str | None
    makes_music: bool | None
    confident_online: bool | None
    struggles_niche: bool | None
    knows_gig_sources: bool | None
    paid_fairly: bool | None
    understands_royalties: bool | None
    total_earnings: Decimal
    profile_views: int
    onboarding_complete: bool
    updated_at: datetime
    # Private: the fallback of fan texts' quiet hours (a row cached before it existed lacks it).
    timezone: str | None = None


PUBLIC_FIELDS: tuple[str, ...] = tuple(PublicProfileOut.model_fields)


class CompletionItem(BaseModel):
    name: str
    weight: int
    done: bool


class ProfileCompletionOut(BaseModel):
    percentage: int = Field(ge=0, le=100)
    missing: list[str] = Field(description="What to add next, heaviest first.")
    items: list[CompletionItem]


# -- avatar and banner -------------------------------------------------------------------


class ImageUploadIn(UploadRequestIn):
    """Ask for an avatar or banner upload: JPG, PNG or HEIC, at most 10 MB."""


class ConfirmUploadIn(_In):
    upload_id: UUID


class ImageOut(BaseModel):
    url: str = Field(description="A download link valid for one hour.")
    expires_at: datetime


# -- timeline ----------------------------------------------------------------------------


def _plausible_date(value: date) -> date:
    latest = datetime.now(UTC).date() + timedelta(days=365 * TIMELINE_FUTURE_YEARS)
    if not EARLIEST_TIMELINE_DATE <= value <= latest:
        raise ValueError(
            f"must be between {EARLIEST_TIMELINE_DATE.isoformat()} and {latest.isoformat()}"
        )
    return value


OccurredOn = Annotated[IsoDate, AfterValidator(_plausible_date)]


class TimelineEntryIn(_In):
    entry_type: TimelineEntryType
    occurred_on: OccurredOn
    title: Text200
    description: OptText2000 = None


class TimelineEntryUpdateIn(_In):
    """Any field of an entry; left out is unchanged, `description: null` clears it."""

    entry_type: TimelineEntryType | None = None
    occurred_on: OccurredOn | None = None
    title: Text200 | None = None
    description: OptText2000 = None

    @field_validator("entry_type", "occurred_on", "title", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be cleared; send a value")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class TimelineEntryOut(BaseModel):
    id: UUID
    entry_type: TimelineEntryType
    occurred_on: date
    title: str
    description: str | None
    created_at: datetime


class DeletedOut(BaseModel):
    id: UUID
    deleted: bool


class UnavailabilityIn(_In):
    """Days the artist cannot play: one day, or `start_date` to `end_date` inclusive."""

    start_date: IsoDate
    end_date: IsoDate | None = Field(default=None, description="Left out: the start day only.")
    note: OptText200 = Field(default=None, description="Only the artist sees it.")


class UnavailabilityOut(BaseModel):
    id: UUID
    start_date: date
    end_date: date
    note: str | None
    created_at: datetime
