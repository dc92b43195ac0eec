"""The genres an artist, a track or a gig may name: one documented list (README, API docs)."""

from __future__ import annotations

from typing import Literal, get_args

Genre = Literal[
    "acoustic",
    "afrobeats",
    "alternative",
    "ambient",
    "americana",
    "blues",
    "classical",
    "country",
    "dance",
    "drum_and_bass",
    "edm",
    "electronic",
    "experimental",
    "folk",
    "funk",
    "gospel",
    "hip_hop",
    "house",
    "indie",
    "jazz",
    "k_pop",
    "latin",
    "metal",
    "pop",
    "punk",
    "r_and_b",
    "reggae",
    "reggaeton",
    "rock",
    "singer_songwriter",
    "soul",
    "techno",
    "world",
    "other",
]
GENRES: tuple[str, ...] = get_args(Genre)
