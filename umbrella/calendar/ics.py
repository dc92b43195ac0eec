"""A small iCalendar (RFC 5545) writer: escaped text, folded lines, CRLF line endings.

Only what a published feed of events needs, written here rather than taken from a
dependency: a few dozen lines, and the rules calendars trip over are tested one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

CRLF = "\r\n"
# RFC 5545 §3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break.
LINE_OCTETS = 75
PRODID = "-//Umbrella//Gig calendar//EN"

# TEXT holds no control character but HTAB (§3.3.11); line breaks are escaped before this.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape_text(value: str) -> str:
    """A TEXT value with backslash, semicolon, comma and line breaks escaped (§3.3.11)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROLS.sub("", value.replace("\n", "\\n"))


def fold(line: str) -> str:
    """One content line as lines of at most 75 octets, never cut inside a UTF-8 character."""
    pieces: list[str] = []
    start, size, limit = 0, 0, LINE_OCTETS
    for index, char in enumerate(line):
        width = len(char.encode())
        if size + width > limit:
            pieces.append(line[start:index])
            # a continuation line starts with a space, which counts towards its 75 octets
            start, size, limit = index, 0, LINE_OCTETS - 1
        size += width
    pieces.append(line[start:])
    return (CRLF + " ").join(pieces)


@dataclass(frozen=True)
class Event:
    """One VEVENT. `start`/`end`: a date for an all-day event (end exclusive), a naive
    datetime for floating local time, an aware one for an instant (written in UTC)."""

    uid: str
    stamp: datetime
    start: date | datetime
    end: date | datetime | None
    summary: str
    location: str | None = None
    description: str | None = None
    url: str | None = None
    cancelled: bool = False
    sequence: int = 0
    last_modified: datetime | None = None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _when(name: str, value: date | datetime) -> str:
    # datetime is a date too: test it first
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return f"{name}:{_utc(value)}"
        return f"{name}:{value.strftime('%Y%m%dT%H%M%S')}"
    return f"{name};VALUE=DATE:{value.strftime('%Y%m%d')}"


def event_lines(event: Event) -> list[str]:
    """The unfolded content lines of one VEVENT."""
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{_utc(event.stamp)}",
        _when("DTSTART", event.start),
    ]
    if event.end is not None:
        lines.append(_when("DTEND", event.end))
    lines.append(f"SUMMARY:{escape_text(event.summary)}")
    if event.location:
        lines.append(f"LOCATION:{escape_text(event.location)}")
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    if event.url:
        lines.append(f"URL:{event.url}")  # a URI, not TEXT: not escaped
    lines.append(f"STATUS:{'CANCELLED' if event.cancelled else 'CONFIRMED'}")
    lines.append(f"SEQUENCE:{event.sequence}")
    if event.last_modified is not None:
        lines.append(f"LAST-MODIFIED:{_utc(event.last_modified)}")
    lines.append("END:VEVENT")
    return lines


def calendar(events: Iterable[Event], *, name: str) -> str:
    """A whole VCALENDAR, folded, with CRLF after every line."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{escape_text(name)}",
        # hints for how often subscribers poll (RFC 7986, and the older Apple/Microsoft one)
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for event in events:
        lines += event_lines(event)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)
