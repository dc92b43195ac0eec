"""SMS segments as a carrier bills them: GSM-7 160/153, UCS-2 70/67, extension chars count twice."""

from __future__ import annotations

import pytest

from umbrella.broadcasts.segments import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # the euro sign is an extension char: two septets
        ("{" * 81, "GSM-7", 162, 2),
        ("a" * 152 + "[" + "a" * 152, "GSM-7", 306, 3),  # an escape pair never straddles parts
        ("é" * 160, "GSM-7", 160, 1),  # é is in the basic table
        ("ć" * 70, "UCS-2", 70, 1),
        ("ć" * 71, "UCS-2", 71, 2),
        ("ć" * 134, "UCS-2", 134, 2),
        ("ć" * 135, "UCS-2", 135, 3),
        ("🎸" * 35, "UCS-2", 70, 1),  # an emoji is a surrogate pair: two units
        ("a" * 66 + "🎸" + "a" * 66, "UCS-2", 134, 3),  # a pair never straddles parts
    ],
)
def test_segments(text: str, encoding: str, units: int, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == (encoding, units, segments)
