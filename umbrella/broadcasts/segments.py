"""How many SMS segments a text costs: GSM-7 (160, or 153 per part) or UCS-2 (70, or 67).

A text made only of GSM 03.38 characters travels as 7-bit septets, where the extension
table's characters (`{ } [ ] ~ \\ | ^ €` and form feed) take two septets (escape + char).
One character outside that alphabet turns the whole text into UCS-2 (UTF-16 units, so an
emoji takes two). A long text is split into parts carrying a 6-byte header, and a part
never ends halfway through an escape pair or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 basic character set (the 128 septets, escape excluded).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Its extension table: each costs an escape septet as well.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


@dataclass(frozen=True)
class SegmentCount:
    """A text's encoding, its length in that encoding's units, and its segments."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _costs(text: str) -> tuple[Encoding, list[int]]:
    """The encoding and each character's indivisible size in that encoding's units."""
    if is_gsm7(text):
        return "GSM-7", [2 if char in GSM7_EXTENSION else 1 for char in text]
    return "UCS-2", [2 if ord(char) > 0xFFFF else 1 for char in text]


def count_segments(text: str) -> SegmentCount:
    """The segments a carrier bills for `text`, as sent (empty text: zero)."""
    encoding, costs = _costs(text)
    units = sum(costs)
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    if units == 0:
        return SegmentCount(encoding=encoding, units=0, segments=0)
    if units <= single:
        return SegmentCount(encoding=encoding, units=units, segments=1)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:  # an escape or surrogate pair never straddles two parts
            segments += 1
            used = 0
        used += cost
    return SegmentCount(encoding=encoding, units=units, segments=segments)
