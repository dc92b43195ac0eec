"""The field types of an artist's profile: its enums, bounds and validated text.

Every length matches its column in `migrations/artists` (docs/profiles.md lists each rule).
Text is stripped first, so a 101-character stage name is refused whatever its padding.
Onboarding steps and profile edits share them, and so do other domains' schemas
(`IsoDate` for every date a client sends, the text lengths).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from umbrella.artists.genres import Genre

# -- enums (documented in docs/profiles.md) ---------------------------------------------

PerformanceType = Literal[
    "solo",
    "duo",
    "band",
    "dj_set",
    "acoustic",
    "live_electronic",
    "orchestra",
    "session_musician",
    "other",
]
PERFORMANCE_TYPES: tuple[str, ...] = get_args(PerformanceType)

Platform = Literal[
    "spotify",
    "apple_music",
    "youtube",
    "soundcloud",
    "bandcamp",
    "tiktok",
    "instagram",
    "twitch",
    "amazon_music",
    "tidal",
    "deezer",
    "audiomack",
    "other",
]
PLATFORMS: tuple[str, ...] = get_args(Platform)

TimelineEntryType = Literal["gig", "release", "milestone", "other"]

# -- bounds ------------------------------------------------------------------------------

MAX_FLAT_RATE = Decimal("1000000")
MAX_HOURLY_RATE = Decimal("100000")
MAX_TRAVEL_RADIUS_MILES = 12_500  # half the Earth's circumference: anywhere
MAX_ADVANCE_BOOKING_WEEKS = 104
MAX_YEARS_PERFORMING = 100
MAX_SECONDARY_GENRES = 5
MAX_INFLUENCES = 20
MAX_EQUIPMENT = 30
EARLIEST_TIMELINE_DATE = date(1900, 1, 1)
TIMELINE_FUTURE_YEARS = 10  # an announced gig or release may lie ahead


# -- reusable field types ----------------------------------------------------------------


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: object) -> object:
    # pydantic alone also reads 0, 1700000000 or "1700000000" as a Unix time.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


# Every date a client sends: YYYY-MM-DD only.
IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]


def _no_nul(value: str) -> str:
    # Postgres text cannot hold NUL; refusing it here keeps it a 400, not a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _blank_to_none(value: Any) -> Any:
    """An optional text sent empty means "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an item")
    return values


def _http_url(value: str) -> str:
    if any(char.isspace() for char in value):
        raise ValueError("must be a URL without spaces")
    parts = urlsplit(value)  # raises ValueError on a malformed host, which is a 400 too
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _text(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


Text10 = Annotated[str, _text(10), AfterValidator(_no_nul)]
Text50 = Annotated[str, _text(50), AfterValidator(_no_nul)]
Text100 = Annotated[str, _text(100), AfterValidator(_no_nul)]
Text160 = Annotated[str, _text(160), AfterValidator(_no_nul)]
Text200 = Annotated[str, _text(200), AfterValidator(_no_nul)]
Text300 = Annotated[str, _text(300), AfterValidator(_no_nul)]
Text500 = Annotated[str, _text(500), AfterValidator(_no_nul)]
Text1000 = Annotated[str, _text(1000), AfterValidator(_no_nul)]
Text2000 = Annotated[str, _text(2000), AfterValidator(_no_nul)]
Text5000 = Annotated[str, _text(5000), AfterValidator(_no_nul)]
Url = Annotated[str, _text(500), AfterValidator(_no_nul), AfterValidator(_http_url)]

OptText10 = Annotated[Text10 | None, BeforeValidator(_blank_to_none)]
OptText50 = Annotated[Text50 | None, BeforeValidator(_blank_to_none)]
OptText100 = Annotated[Text100 | None, BeforeValidator(_blank_to_none)]
OptText160 = Annotated[Text160 | None, BeforeValidator(_blank_to_none)]
OptText200 = Annotated[Text200 | None, BeforeValidator(_blank_to_none)]
OptText300 = Annotated[Text300 | None, BeforeValidator(_blank_to_none)]
OptText500 = Annotated[Text500 | None, BeforeValidator(_blank_to_none)]
OptText1000 = Annotated[Text1000 | None, BeforeValidator(_blank_to_none)]
OptText2000 = Annotated[Text2000 | None, BeforeValidator(_blank_to_none)]
OptText5000 = Annotated[Text5000 | None, BeforeValidator(_blank_to_none)]
OptUrl = Annotated[Url | None, BeforeValidator(_blank_to_none)]


def _iana_zone(value: str) -> str:
    # Fan texts keep quiet hours in this zone (docs/broadcasts.md): it must be a real one.
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as America/Chicago") from None
    return value


OptTimezone = Annotated[
    Annotated[str, _text(64), AfterValidator(_iana_zone)] | None,
    BeforeValidator(_blank_to_none),
]

StrictBool = Annotated[bool, Field(strict=True)]
FlatRate = Annotated[
    Decimal, Field(ge=0, le=MAX_FLAT_RATE, max_digits=12, decimal_places=2, allow_inf_nan=False)
]
HourlyRate = Annotated[
    Decimal, Field(ge=0, le=MAX_HOURLY_RATE, max_digits=12, decimal_places=2, allow_inf_nan=False)
]
TravelRadius = Annotated[int, Field(strict=True, ge=0, le=MAX_TRAVEL_RADIUS_MILES)]
AdvanceWeeks = Annotated[int, Field(strict=True, ge=0, le=MAX_ADVANCE_BOOKING_WEEKS)]
YearsPerforming = Annotated[int, Field(strict=True, ge=0, le=MAX_YEARS_PERFORMING)]

SecondaryGenres = Annotated[
    list[Genre], Field(max_length=MAX_SECONDARY_GENRES), AfterValidator(_unique)
]
Influences = Annotated[list[Text100], Field(max_length=MAX_INFLUENCES), AfterValidator(_unique)]
PerformanceTypes = Annotated[
    list[PerformanceType], Field(max_length=len(PERFORMANCE_TYPES)), AfterValidator(_unique)
]
Equipment = Annotated[list[Text100], Field(max_length=MAX_EQUIPMENT), AfterValidator(_unique)]
Platforms = Annotated[list[Platform], Field(max_length=len(PLATFORMS)), AfterValidator(_unique)]
