"""What the scale dataset draws its rows from: cities, genres, names, money, message text.

Skewed as a live platform is: a Zipf over cities and genres (a few big cities and popular
genres hold most rows), weighted payment types and capacities. Every draw takes the load's
`random.Random`, so one seed gives the same content.
"""

from __future__ import annotations

import bisect
import itertools
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from umbrella.artists.genres import GENRES
from umbrella.messaging.messages import PREVIEW_CHARS

# Biggest first: the Zipf skew puts most artists, venues and gigs in the first few.
CITIES: tuple[tuple[str, str], ...] = (
    ("Los Angeles", "CA"), ("New York", "NY"), ("Nashville", "TN"), ("Austin", "TX"),
    ("Chicago", "IL"), ("Atlanta", "GA"), ("Brooklyn", "NY"), ("Seattle", "WA"),
    ("Miami", "FL"), ("Denver", "CO"), ("Portland", "OR"), ("New Orleans", "LA"),
    ("San Francisco", "CA"), ("Philadelphia", "PA"), ("Houston", "TX"), ("Detroit", "MI"),
    ("Minneapolis", "MN"), ("Boston", "MA"), ("Washington", "DC"), ("Dallas", "TX"),
    ("Phoenix", "AZ"), ("San Diego", "CA"), ("Oakland", "CA"), ("Memphis", "TN"),
    ("Kansas City", "MO"), ("Pittsburgh", "PA"), ("Columbus", "OH"), ("Asheville", "NC"),
    ("Salt Lake City", "UT"), ("Richmond", "VA"), ("Baltimore", "MD"), ("St. Louis", "MO"),
    ("Las Vegas", "NV"), ("Charlotte", "NC"), ("Tampa", "FL"), ("Milwaukee", "WI"),
    ("Louisville", "KY"), ("Albuquerque", "NM"), ("Tucson", "AZ"), ("Omaha", "NE"),
    ("Boise", "ID"), ("Savannah", "GA"), ("Burlington", "VT"), ("Athens", "GA"),
    ("Missoula", "MT"), ("Eugene", "OR"), ("Madison", "WI"), ("Providence", "RI"),
)  # fmt: skip

# Most booked first; a genre added to the validated list later simply comes last.
_GENRE_POPULARITY = (
    "pop", "hip_hop", "rock", "indie", "electronic", "country", "r_and_b", "jazz", "house",
    "folk", "alternative", "singer_songwriter", "latin", "soul", "metal", "punk", "edm",
    "techno", "blues", "acoustic", "reggaeton", "afrobeats", "funk", "americana", "gospel",
    "reggae", "dance", "drum_and_bass", "ambient", "classical", "experimental", "k_pop",
    "world", "other",
)  # fmt: skip
GENRE_ORDER: tuple[str, ...] = tuple(
    sorted(
        GENRES,
        key=lambda g: _GENRE_POPULARITY.index(g) if g in _GENRE_POPULARITY else len(GENRES),
    )
)

_FIRST = (
    "Luna", "Marcus", "Kai", "Rosa", "Nova", "Eli", "Maya", "Theo", "Iris", "Jonah", "Zara",
    "Otis", "Ruby", "Felix", "Ada", "Miles", "June", "Silas", "Nina", "Arlo", "Sage", "Leon",
    "Hazel", "Idris", "Cleo", "Rafael", "Wren", "Dante", "Esme", "Jude",
)  # fmt: skip
_LAST = (
    "Vega", "Reed", "Hart", "Stone", "Rivers", "Lane", "Cole", "Fox", "Wilde", "Monroe",
    "Blake", "Quinn", "Hayes", "Santos", "Okafor", "Kim", "Novak", "Bishop", "Cruz", "Dunn",
)  # fmt: skip
_ADJECTIVE = (
    "Velvet", "Electric", "Golden", "Midnight", "Neon", "Copper", "Silver", "Wild", "Lonely",
    "Crimson", "Paper", "Hollow", "Northern", "Static", "Honey", "Broken", "Blue", "Lucky",
)  # fmt: skip
_NOUN = (
    "Pines", "Foxes", "Rivers", "Echoes", "Satellites", "Wolves", "Lanterns", "Sparrows",
    "Horses", "Tides", "Comets", "Ghosts", "Saints", "Owls", "Arrows", "Parade",
)  # fmt: skip
_ROOM = (
    "Room", "Hall", "Lounge", "Tavern", "Theatre", "Club", "Social", "Garden", "Ballroom",
    "Cellar", "Taproom", "House", "Stage", "Cafe",
)  # fmt: skip
STREETS = ("Main St", "Broadway", "Oak Ave", "2nd St", "Elm St", "Market St", "Water St")
NIGHTS = ("Night", "Showcase", "Session", "Social", "Brunch", "Residency", "Takeover", "Jam")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LINES = (
    "Hi! Is the slot still open?",
    "Yes, it is. Can you do a 45-minute set?",
    "Sounds great, thanks!",
    "What time is load-in?",
    "Load-in at 6, doors at 7.",
    "Do you provide backline?",
    "We have a drum kit and two amps.",
    "Perfect. I'll bring my own mics.",
    "Can we talk about the rate?",
    "Sending the setlist tonight.",
    "See you Friday!",
    "Running ten minutes late, sorry.",
    "Loved the show last night.",
    "Want to co-headline next month?",
    "Parking is behind the building.",
    "Can I bring a guest?",
    "Sure, put them on the list.",
    "Just confirmed with the sound engineer.",
    "Thanks for having us!",
    "Let's do it again soon.",
    "ok",
    "👍",
)
_LONG_LINE = (
    "Here is everything for the night: we go on at nine, the set is about seventy minutes "
    "with a short encore, the stage plot is attached in my last email, and we need four "
    "vocal mics, two DIs for the keys and a monitor mix for each of us. "
)
PERFORMANCE_TYPES = ("live band", "solo acoustic", "DJ set", "duo", "full production")
PAYMENT_WEIGHTS = (("flat", 65), ("hourly", 20), ("negotiable", 15))
CAPACITY_WEIGHTS = ((1, 70), (2, 15), (3, 8), (4, 4), (5, 3))


class Zipf:
    """Index i in [0, n) with weight 1 / (i + 1) ** exponent, in O(log n) per draw."""

    def __init__(self, n: int, exponent: float) -> None:
        self._cumulative = list(itertools.accumulate(1.0 / (i + 1) ** exponent for i in range(n)))
        self._last = n - 1

    def __call__(self, rng: random.Random) -> int:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return min(index, self._last)


def weighted(pairs: Sequence[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    """Values and cumulative weights of `(value, weight)` pairs, for `rng.choices`."""
    return [value for value, _ in pairs], list(itertools.accumulate(weight for _, weight in pairs))


def new_id(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID from the load's id stream (reproducible for a seed and run)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def stage_name(rng: random.Random) -> str:
    """An artist's stage name in one of the shapes real ones take."""
    shape = rng.randrange(6)
    if shape == 0:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if shape == 1:
        return f"The {rng.choice(_ADJECTIVE)} {rng.choice(_NOUN)}"
    if shape == 2:
        return f"DJ {rng.choice(_FIRST)}"
    if shape == 3:
        return f"{rng.choice(_FIRST)} & The {rng.choice(_NOUN)}"
    if shape == 4:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)} Trio"
    return f"{rng.choice(_ADJECTIVE)} {rng.choice(_NOUN)}"


def venue_name(rng: random.Random) -> str:
    """A venue's name: "The <adjective> <room>"."""
    return f"The {rng.choice(_ADJECTIVE)} {rng.choice(_ROOM)}"


def money(value: float, step: int) -> Decimal:
    """`value` rounded down to a multiple of `step`, at least `step`."""
    return Decimal(max(step, int(value / step) * step))


def message_text(rng: random.Random) -> str:
    """A message's text: mostly one or two short lines, now and then a long one."""
    roll = rng.random()
    if roll < 0.01:  # the odd long message (a rider, a stage plot), under D-043's 2,000 chars
        return (_LONG_LINE * rng.randint(2, 8)).strip()
    if roll < 0.75:
        return rng.choice(_LINES)
    return f"{rng.choice(_LINES)} {rng.choice(_LINES)}"


def preview(content: str) -> str:
    """The inbox's preview of a last message."""
    # As umbrella.messaging.messages shows the last message in the inbox.
    flat = " ".join(content.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
