"""`/v1/analytics`, its chart and the earnings export, read by the artist they belong to."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.analytics.month import Booking, CompletedGig, Month, add_gig, at, rows_of, seed_month
from tests.analytics.test_daily import run_month
from tests.factories import bearer_for, make_artist, make_user
from tests.search.world import data_of, error_of
from tests.violet.violet import completed_gig
from umbrella import keys
from umbrella.analytics import service

Client = TestClient[web.Request, web.Application]


def money(value: Any) -> Decimal:
    return Decimal(str(value))


async def month_with_rows(client: Client, redis: Redis) -> Month:
    month = await seed_month()
    await run_month(client.app[keys.SETTINGS], redis, month)
    return month


async def test_the_monthly_chart_is_the_last_30_rows_day_by_day(
    client: Client, redis_client: Redis
) -> None:
    month = await month_with_rows(client, redis_client)
    headers = await bearer_for(client.app, month.luna[0])
    chart = await data_of(await client.get("/v1/analytics/chart", headers=headers))
    assert chart["period"] == "monthly"
    rows = await rows_of(month.luna[1])
    assert [date.fromisoformat(p["date"]) for p in chart["points"]] == month.days
    assert len(rows) == len(chart["points"]) == 30
    for point, row in zip(chart["points"], rows, strict=True):
        assert money(point["earnings"]) == row["earnings"]
        assert point["gigs_completed"] == row["gigs_completed"]
        assert point["profile_views"] == row["profile_views"]
        assert point["track_plays"] == row["track_plays"]
        assert point["followers"] == row["followers"]
        rating = point["avg_rating"]
        assert (None if rating is None else money(rating)) == row["avg_rating"]

    # The newcomer's chart has a point for every day: zeros, and no level before joining.
    newcomer = await bearer_for(client.app, month.newcomer[0])
    points = (await data_of(await client.get("/v1/analytics/chart", headers=newcomer)))["points"]
    assert len(points) == 30
    assert points[0] == {
        "date": month.days[0].isoformat(),
        "earnings": "0.00",
        "gigs_completed": 0,
        "profile_views": 0,
        "track_plays": 0,
        "followers": None,
        "avg_rating": None,
    }
    assert money(points[-1]["earnings"]) == Decimal(40)
    # Money always shows two decimals, on days with earnings and without.
    assert all(re.fullmatch(r"\d+\.\d\d", p["earnings"]) for p in chart["points"] + points)


async def test_the_yearly_chart_sums_the_rows_of_each_month(
    client: Client, redis_client: Redis
) -> None:
    month = await month_with_rows(client, redis_client)
    headers = await bearer_for(client.app, month.luna[0])
    response = await client.get("/v1/analytics/chart?period=yearly", headers=headers)
    points = (await data_of(response))["points"]
    assert len(points) == 12
    last_month = (service.today() - timedelta(days=1)).replace(day=1)
    assert date.fromisoformat(points[-1]["date"]) == last_month
    rows = await rows_of(month.luna[1])
    for point in points:
        start = date.fromisoformat(point["date"])
        assert start.day == 1
        inside = [r for r in rows if (r["date"].year, r["date"].month) == (start.year, start.month)]
        assert money(point["earnings"]) == sum((r["earnings"] for r in inside), Decimal(0))
        assert point["profile_views"] == sum(r["profile_views"] for r in inside)
        assert point["track_plays"] == sum(r["track_plays"] for r in inside)
        assert point["followers"] == (inside[-1]["followers"] if inside else None)
    assert sum(p["gigs_completed"] for p in points) == sum(r["gigs_completed"] for r in rows)


async def test_analytics_shows_the_latest_row_and_the_totals(
    client: Client, redis_client: Redis
) -> None:
    month = await month_with_rows(client, redis_client)
    headers = await bearer_for(client.app, month.luna[0])
    data = await data_of(await client.get("/v1/analytics", headers=headers))
    rows = await rows_of(month.luna[1])
    latest = data["latest"]
    assert date.fromisoformat(latest["date"]) == month.days[-1]
    assert latest["followers"] == rows[-1]["followers"] == 15
    totals = data["totals"]
    assert totals["followers"] == 15
    assert totals["total_gigs"] == sum(r["gigs_completed"] for r in rows)
    assert money(totals["total_earnings"]) == sum((r["earnings"] for r in rows), Decimal(0))
    assert money(totals["avg_rating"]) == Decimal("4.67")
    assert totals["views_last_30_days"] == sum(r["profile_views"] for r in rows)
    assert totals["plays_last_30_days"] == sum(r["track_plays"] for r in rows)
    assert money(totals["earnings_last_30_days"]) == money(totals["total_earnings"])

    # Before the first batch: no latest row, totals still there.
    fresh_user, _ = await make_artist(stage_name="Fresh")
    fresh_headers = await bearer_for(client.app, fresh_user)
    empty = await data_of(await client.get("/v1/analytics", headers=fresh_headers))
    assert empty["latest"] is None
    assert empty["totals"]["views_last_30_days"] == 0
    # Money always has its two decimals, and no reviews is no rating, not a 0.00 one.
    assert empty["totals"]["total_earnings"] == "0.00"
    assert empty["totals"]["earnings_last_30_days"] == "0.00"
    assert (empty["totals"]["avg_rating"], empty["totals"]["total_reviews"]) == (None, 0)


async def test_earnings_csv_lists_completed_gigs_safely_as_a_download(
    client: Client, redis_client: Redis
) -> None:
    month = await seed_month()
    await add_gig(
        month,
        CompletedGig(
            at(month.days[2], 20),
            [Booking(month.luna[1], Decimal("99.90"))],
            title='=HYPERLINK("http://evil.test")',
            venue_name='@Bar, "quoted"',
        ),
    )
    headers = await bearer_for(client.app, month.luna[0])
    first, last = month.days[0], month.days[-1]
    response = await client.get(
        f"/v1/analytics/earnings.csv?from={first.isoformat()}&to={last.isoformat()}",
        headers=headers,
    )
    assert response.status == 200
    assert response.content_type == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition == (
        f'attachment; filename="umbrella-earnings-{first.isoformat()}-{last.isoformat()}.csv"'
    )
    table = list(csv.reader(io.StringIO(await response.text())))
    assert table[0] == ["date", "venue", "title", "city", "state", "amount", "completed_at"]
    lines = table[1:]
    luna_gigs = [g for g in month.gigs if any(b.artist_id == month.luna[1] for b in g.bookings)]
    assert len(lines) == len(luna_gigs) + 1
    assert [line[0] for line in lines] == sorted(line[0] for line in lines)
    evil = next(line for line in lines if "HYPERLINK" in line[2])
    assert evil[1] == '\'@Bar, "quoted"'
    assert evil[2] == '\'=HYPERLINK("http://evil.test")'
    assert evil[5] == "99.90"
    total = sum((Decimal(line[5]) for line in lines), Decimal(0))
    expected = sum(
        (b.earned or 0 for g in luna_gigs for b in g.bookings if b.artist_id == month.luna[1]),
        Decimal("99.90"),
    )
    assert total == expected

    # Only `from`: to the end of its year; neither: the current year.
    only_from = await client.get(
        f"/v1/analytics/earnings.csv?from={first.isoformat()}", headers=headers
    )
    assert f"-{first.year}-12-31.csv" in only_from.headers["Content-Disposition"]
    default = await client.get("/v1/analytics/earnings.csv", headers=headers)
    year = service.today().year
    assert (
        f"umbrella-earnings-{year}-01-01-{year}-12-31.csv" in default.headers["Content-Disposition"]
    )


async def test_bad_input_names_the_field(client: Client) -> None:
    user_id, _ = await make_artist()
    headers = await bearer_for(client.app, user_id)
    weekly = await client.get("/v1/analytics/chart?period=weekly", headers=headers)
    assert (await error_of(weekly, 400))["field"] == "period"
    backwards = await client.get(
        "/v1/analytics/earnings.csv?from=2026-03-02&to=2026-03-01", headers=headers
    )
    error = await error_of(backwards, 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "from")
    for query, field in (("from=2026-13-01", "from"), ("to=soon", "to")):
        bad = await client.get(f"/v1/analytics/earnings.csv?{query}", headers=headers)
        assert (await error_of(bad, 400))["field"] == field


async def test_only_artists_read_analytics(client: Client) -> None:
    venue = await bearer_for(client.app, await make_user(role="venue", onboarding_complete=True))
    for path in ("/v1/analytics", "/v1/analytics/chart", "/v1/analytics/earnings.csv"):
        assert (await error_of(await client.get(path, headers=venue), 403))["code"] == "FORBIDDEN"
        assert (await client.get(path)).status == 401


async def test_earnings_csv_cells_are_never_formulas_under_any_separator(client: Client) -> None:
    """OWASP CSV injection: a spreadsheet may split on `;`, a tab or `|` instead of `,`."""
    user_id, artist_id = await make_artist()
    nasty = [
        ("Gig;=cmd|' /C calc'!A0;x", "Bar\t+1+1", "Austin,@SUM(A1)", "TX|-2+3"),
        ('Jazz; "=HYPERLINK(""http://evil.test"")"', "Club\n=1+1", "\t@x", "\rNM"),
        ("Plain Night", "The Anchor", "Austin", "TX"),
    ]
    day = date(2026, 3, 3)
    for title, venue_name, city, state in nasty:
        await completed_gig(
            artist_id, title=title, venue_name=venue_name, city=city, state=state, on=day, paid="10"
        )
    headers = await bearer_for(client.app, user_id)

    response = await client.get(
        "/v1/analytics/earnings.csv?from=2026-03-01&to=2026-03-31", headers=headers
    )

    assert response.status == 200
    text = await response.text()
    for separator in (",", ";", "\t", "|"):
        for line in text.replace("\r", "\n").split("\n"):
            for piece in line.split(separator):
                start = piece.lstrip(' "')
                assert not start.startswith(("=", "+", "-", "@")), (separator, piece)
    # Read as CSV, every value is still there, marked as text where it had to be.
    table = list(csv.reader(io.StringIO(text)))
    cells = sorted(tuple(row[1:5]) for row in table[1:])
    assert cells == [
        ("Bar\t'+1+1", "Gig;'=cmd|' /C calc'!A0;x", "Austin,'@SUM(A1)", "TX|'-2+3"),
        ("Club\n'=1+1", 'Jazz;\' "=HYPERLINK(""http://evil.test"")"', "'\t'@x", "'\rNM"),
        ("The Anchor", "Plain Night", "Austin", "TX"),
    ]
