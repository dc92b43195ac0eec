"""Request and response models of artist discovery and global search (docs/search.md)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from multidict import MultiMapping
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from umbrella.artists.genres import Genre
from umbrella.core.errors import ValidationFailed
from umbrella.gigs.schemas import PaymentType
from umbrella.web.views import validation_failed

MAX_QUERY_LENGTH = 200
MAX_SEARCH_LIMIT = 50
DEFAULT_SEARCH_LIMIT = 20

SearchType = Literal["artists", "gigs"]
HitType = Literal["artist", "gig"]


def _no_nul(value: str) -> str:
    # Postgres text cannot hold NUL; refusing it here keeps it a 400, not a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SearchText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_LENGTH),
    AfterValidator(_no_nul),
    Field(description='What to look for: 1 to 200 characters; words, "a phrase", -excluded.'),
]
Location = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_nul),
    Field(description="A city or a state (either matches, case-insensitive)."),
]
SearchLimit = Annotated[
    int, Field(ge=1, le=MAX_SEARCH_LIMIT, description="Results per page, 1 to 50.")
]
# A repeated query parameter defaults to "none given"; a FieldInfo keeps the default immutable.
ANY_GENRE: Final[Any] = Field(
    default_factory=list,
    description="Repeat for several (`genre=rock&genre=pop`): an artist matches any of them, "
    "as primary or secondary genre.",
)


def query_field(error: ValidationError) -> ValidationFailed:
    """A query-string error names the parameter (`genre`), not an index of its values."""
    failed = validation_failed(error)
    if failed.field is not None:
        failed.field = failed.field.split(".")[0]
    return failed


# -- filters[...] of /v1/search --------------------------------------------------------


class SearchFiltersIn(BaseModel):
    """`filters[genre]` (repeatable) and `filters[location]`; any other `filters[…]` is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    genres: list[Genre] = Field(default_factory=list, alias="filters[genre]")
    location: Location | None = Field(default=None, alias="filters[location]")

    @classmethod
    def from_query(cls, query: MultiMapping[str]) -> SearchFiltersIn:
        """The `filters[…]` parameters of a query string, validated (400 naming the parameter)."""
        given: dict[str, Any] = {}
        for name in query:
            if name.startswith("filters[") and name not in given:
                values = query.getall(name)
                given[name] = values if name == "filters[genre]" or len(values) > 1 else values[0]
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise query_field(error) from None


# -- responses ---------------------------------------------------------------------------


class ArtistCardOut(BaseModel):
    """An artist in a list or among search results: public fields only (docs/profiles.md)."""

    id: UUID
    stage_name: str
    tagline: str | None
    avatar_url: str | None = Field(description="A download link valid for one hour.")
    city: str | None
    state: str | None
    country: str | None
    primary_genre: str | None
    secondary_genres: list[str]
    verified: bool
    avg_rating: Decimal | None = Field(description="null while the artist has no reviews.")
    total_reviews: int
    total_gigs: int
    follower_count: int
    created_at: datetime

    @model_validator(mode="after")
    def _no_reviews_no_rating(self) -> ArtistCardOut:
        # The profile keeps 0 for an unreviewed artist; shown, that reads as a bad rating.
        if self.total_reviews == 0:
            self.avg_rating = None
        return self


class GigCardOut(BaseModel):
    """An open gig among search results; `GET /v1/gigs/{gig_id}` has the rest."""

    id: UUID
    title: str
    venue_name: str
    city: str
    state: str
    date: date
    start_time: time | None
    end_time: time | None
    genre: str | None
    payment_amount: Decimal | None
    payment_type: PaymentType
    capacity: int
    filled_slots: int
    urgency_flag: bool


class SearchHitOut(BaseModel):
    """One search result: an artist or a gig (the other field is null), best first."""

    type: HitType
    score: float = Field(description="Relevance: higher is better; comparable across types.")
    artist: ArtistCardOut | None = None
    gig: GigCardOut | None = None
