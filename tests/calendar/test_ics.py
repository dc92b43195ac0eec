"""The iCalendar writer: escaping, folding at 75 octets, CRLF, and gigs as events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.calendar.ics_reader import events, unescape, unfold
from umbrella.calendar import ics
from umbrella.calendar.service import gig_event, gig_times, pay_text
from umbrella.config import Settings

STAMP = datetime(2026, 12, 1, 18, 30, 5, tzinfo=UTC)
TRICKY_TITLE = 'Rock, Paper; Scissors\nLive \\ "unplugged"'
# 200 characters of 1-, 2-, 3- and 4-byte UTF-8, so folds fall next to every width
LONG_DESCRIPTION = ("Café ☕ 日本 🎸 ñ, ok; " * 20)[:200]


def _event(**overrides: Any) -> ics.Event:
    values: dict[str, Any] = {
        "uid": "gig-1@umbrella",
        "stamp": STAMP,
        "start": datetime(2026, 12, 12, 21, 0),
        "end": datetime(2026, 12, 13, 1, 30),
        "summary": "A gig",
    }
    values.update(overrides)
    return ics.Event(**values)


def test_text_is_escaped() -> None:
    assert ics.escape_text("a,b;c\\d\ne\r\nf\rg") == "a\\,b\\;c\\\\d\\ne\\nf\\ng"
    # no control characters but tab survive
    assert ics.escape_text("bell\x07 tab\t nul\x00") == "bell tab\t nul"


def test_lines_fold_at_75_octets_without_cutting_a_character() -> None:
    line = "DESCRIPTION:" + "é🎸日a" * 40
    folded = ics.fold(line)
    physical = folded.split("\r\n")
    assert len(physical) > 1
    for index, part in enumerate(physical):
        assert len(part.encode()) <= 75
        if index:
            assert part.startswith(" ")
        part.encode().decode()  # a whole number of characters
    # full lines: a 4-byte character may end a line short of 75, never more than 3 short
    assert all(len(part.encode()) >= 72 for part in physical[:-1])
    assert unfold(folded) == line
    assert ics.fold("SHORT:x") == "SHORT:x"
    exactly = "X" * 75
    assert ics.fold(exactly) == exactly
    assert ics.fold(exactly + "Y") == exactly + "\r\n Y"


def test_tricky_text_round_trips_through_a_calendar() -> None:
    text = ics.calendar(
        [_event(summary=TRICKY_TITLE, description=LONG_DESCRIPTION, location="A, B; C")],
        name="Umbrella gigs",
    )
    assert len(LONG_DESCRIPTION) == 200
    raw = text.encode()
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF everywhere
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    [event] = events(text)
    assert unescape(event["SUMMARY"]) == TRICKY_TITLE
    assert unescape(event["DESCRIPTION"]) == LONG_DESCRIPTION
    assert unescape(event["LOCATION"]) == "A, B; C"
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert text.endswith("END:VCALENDAR\r\n")


def test_times_floating_all_day_and_instants() -> None:
    [timed, all_day, open_ended] = events(
        ics.calendar(
            [
                _event(),
                _event(start=date(2026, 12, 12), end=date(2026, 12, 13), cancelled=True),
                _event(end=None, last_modified=STAMP, sequence=7),
            ],
            name="x",
        )
    )
    assert timed["DTSTART"] == "20261212T210000"
    assert timed["DTEND"] == "20261213T013000"
    assert timed["DTSTAMP"] == "20261201T183005Z"
    assert timed["STATUS"] == "CONFIRMED"
    assert all_day["DTSTART;VALUE=DATE"] == "20261212"
    assert all_day["DTEND;VALUE=DATE"] == "20261213"
    assert all_day["STATUS"] == "CANCELLED"
    assert "DTEND" not in open_ended
    assert open_ended["SEQUENCE"] == "7"
    assert open_ended["LAST-MODIFIED"] == "20261201T183005Z"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # past midnight: the next day
        (time(21), time(1, 30), (datetime(2026, 12, 12, 21), datetime(2026, 12, 13, 1, 30))),
        (time(19), time(22), (datetime(2026, 12, 12, 19), datetime(2026, 12, 12, 22))),
        (time(19), None, (datetime(2026, 12, 12, 19), None)),
        (None, None, (date(2026, 12, 12), date(2026, 12, 13))),
        (None, time(23), (date(2026, 12, 12), date(2026, 12, 13))),
    ],
)
def test_gig_times(start: time | None, end: time | None, expected: tuple[Any, Any]) -> None:
    assert gig_times(date(2026, 12, 12), start, end) == expected


def test_pay_in_words() -> None:
    assert pay_text(Decimal("1250.00"), "flat") == "Pay: $1,250.00"
    assert pay_text(Decimal("40"), "hourly") == "Pay: $40.00 per hour"
    assert pay_text(Decimal("300"), "negotiable") == "Pay: $300.00, negotiable"
    assert pay_text(None, "negotiable") == "Pay: negotiable"


async def test_a_gig_as_an_event(settings: Settings) -> None:
    gig_id = uuid.uuid4()
    created = STAMP - timedelta(days=2)
    gig = {
        "id": gig_id,
        "title": TRICKY_TITLE,
        "description": LONG_DESCRIPTION,
        "venue_name": "The Anchor",
        "address": "12 Main St",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "date": date(2026, 12, 12),
        "start_time": time(21),
        "end_time": time(2),
        "payment_amount": Decimal("250.00"),
        "payment_type": "flat",
        "status": "cancelled",
        "created_at": created,
        "updated_at": STAMP,
    }
    [event] = events(ics.calendar([gig_event(settings, gig)], name="x"))
    link = f"{settings.app_url}/gigs/{gig_id}"
    assert event["UID"] == f"{gig_id}@umbrella"
    assert unescape(event["SUMMARY"]) == f"{TRICKY_TITLE} at The Anchor"
    assert unescape(event["LOCATION"]) == "The Anchor, 12 Main St, Austin, TX 78701"
    assert unescape(event["DESCRIPTION"]) == (
        f"Cancelled by the venue.\n\n{LONG_DESCRIPTION}\n\nPay: $250.00\n\n{link}"
    )
    assert event["URL"] == link
    assert (event["DTSTART"], event["DTEND"]) == ("20261212T210000", "20261213T020000")
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == str(2 * 24 * 3600)
    assert event["LAST-MODIFIED"] == event["DTSTAMP"] == "20261201T183005Z"
