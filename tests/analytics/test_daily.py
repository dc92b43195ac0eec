"""The `analytics-daily` job (D-008): one row per artist per UTC day, by hand, re-runnable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.analytics.month import Month, all_rows, rows_of, seed_month, sql
from tests.conftest import run_umbrella, subprocess_env
from tests.factories import make_artist
from umbrella.analytics import service
from umbrella.analytics.cron import analytics_daily
from umbrella.config import Settings
from umbrella.core.cron import CronContext, all_cron_jobs
from umbrella.core.cron_runs import CronRun


async def run_month(settings: Settings, redis: Redis | None, month: Month) -> None:
    for day in month.days:
        await analytics_daily(CronContext(settings=settings, redis=redis, day=day))


async def test_each_day_of_a_month_gets_the_rows_computed_by_hand(
    settings: Settings, db: PostgresEngine, redis_client: Redis
) -> None:
    month = await seed_month()
    await run_month(settings, redis_client, month)
    for artist_id in month.artists:
        expected = [
            row for day in month.days if (row := month.expected(artist_id, day)) is not None
        ]
        assert await rows_of(artist_id) == expected
    luna, kai, newcomer = month.artists
    # Spot checks of the arithmetic the comparison relies on.
    by_day = {row["date"]: row for row in await rows_of(luna)}
    assert by_day[month.days[10]]["earnings"] == Decimal(7)  # 23:59:59.999999 is day 10
    assert by_day[month.days[0]]["followers"] == 1
    assert by_day[month.days[-1]]["followers"] == 15
    assert by_day[month.days[3]]["avg_rating"] is None
    assert by_day[month.days[9]]["avg_rating"] == Decimal("4.50")
    assert by_day[month.days[20]]["avg_rating"] == Decimal("4.67")
    kai_days = {row["date"]: row for row in await rows_of(kai)}
    assert kai_days[month.days[11]]["earnings"] == Decimal("11.50")  # 00:00 is day 11
    assert kai_days[month.days[15]]["gigs_completed"] == 1  # unreported pay: a gig, $0
    assert kai_days[month.days[15]]["earnings"] == 0
    assert [row["date"] for row in await rows_of(newcomer)] == [month.days[-1]]


async def test_rerunning_a_day_gives_the_same_rows_and_picks_up_late_reports(
    settings: Settings, db: PostgresEngine
) -> None:
    month = await seed_month()
    day = month.days[15]
    context = CronContext(settings=settings, redis=None, day=day)
    first = await analytics_daily(context)
    assert first.startswith(f"wrote 2 daily_metrics rows for {day.isoformat()}")
    before = await all_rows()
    second = await analytics_daily(context)
    assert second.startswith("wrote 0 daily_metrics rows")  # nothing changed: no rewrite
    assert await all_rows() == before  # ids, created_at and updated_at included

    # D-080: Kai reports his pay later; the re-run of that day shows it, and only it.
    await sql(
        "UPDATE gig_applications SET earned_amount = 80 WHERE artist_id = {}"
        " AND earned_amount IS NULL AND status = 'accepted'",
        month.kai[1],
    )
    assert (await analytics_daily(context)).startswith("wrote 1 daily_metrics rows")
    after = {(row["artist_id"], row["date"]): row for row in await all_rows()}
    kai_row = after[(month.kai[1], day)]
    assert kai_row["earnings"] == Decimal(80)
    assert kai_row["id"] == next(r["id"] for r in before if r["artist_id"] == month.kai[1])


async def test_an_artist_with_no_activity_gets_a_row_of_zeros(
    settings: Settings, db: PostgresEngine
) -> None:
    _, artist_id = await make_artist(stage_name="Quiet One")
    today = service.today()
    await sql(
        "UPDATE artists SET created_at = {} WHERE id = {}",
        service.day_bounds(today)[0] - timedelta(days=3),
        artist_id,
    )
    summary = await analytics_daily(CronContext(settings=settings, redis=None))
    # Without --date: the day that just ended.
    assert f"for {(today - timedelta(days=1)).isoformat()}" in summary
    [row] = await rows_of(artist_id)
    assert row == {
        "date": today - timedelta(days=1),
        "earnings": 0,
        "gigs_completed": 0,
        "profile_views": 0,
        "followers": 0,
        "avg_rating": None,
        "track_plays": 0,
    }


async def test_reached_goals_are_completed_by_the_daily_job(
    settings: Settings, db: PostgresEngine
) -> None:
    month = await seed_month()
    luna = month.luna[1]
    for goal_type, target in (("followers", 10), ("earnings", 100_000), ("gigs", 5)):
        await sql(
            "INSERT INTO goals (artist_id, title, goal_type, target_value) VALUES ({}, {}, {}, {})",
            luna,
            f"{goal_type} goal",
            goal_type,
            target,
        )
    summary = await analytics_daily(CronContext(settings=settings, redis=None, day=month.days[-1]))
    assert "completed 2 goals" in summary
    goals = {
        row["goal_type"]: row
        for row in await sql("SELECT goal_type, completed FROM goals WHERE artist_id = {}", luna)
    }
    assert goals["followers"]["completed"]
    assert goals["gigs"]["completed"]
    assert not goals["earnings"]["completed"]


async def test_track_plays_are_booked_on_the_day_they_happen(
    settings: Settings, db: PostgresEngine
) -> None:
    _, artist_id = await make_artist(stage_name="Player")
    await sql(
        "INSERT INTO tracks (artist_id, title, spotify_url) VALUES ({}, 'Song', 'https://x.test')",
        artist_id,
    )
    for _ in range(3):
        await sql("UPDATE tracks SET play_count = play_count + 1 WHERE artist_id = {}", artist_id)
    await sql("UPDATE tracks SET title = 'Renamed' WHERE artist_id = {}", artist_id)
    rows = await sql("SELECT date, plays FROM track_play_counts WHERE artist_id = {}", artist_id)
    assert rows == [{"date": service.today(), "plays": 3}]
    await analytics_daily(CronContext(settings=settings, redis=None, day=service.today()))
    [row] = await rows_of(artist_id)
    assert row["track_plays"] == 3


async def test_the_cli_runs_a_given_date_and_refuses_a_date_for_other_jobs(
    settings: Settings, db: PostgresEngine
) -> None:
    assert all_cron_jobs()["analytics-daily"].schedule == "0 0 * * *"
    _, artist_id = await make_artist(stage_name="Backfilled")
    day = service.today()
    env = subprocess_env(settings)
    result = await run_umbrella("cron", "analytics-daily", "--date", day.isoformat(), env=env)
    assert result.code == 0, result.stderr
    assert f"wrote 1 daily_metrics rows for {day.isoformat()}" in result.stdout
    assert [row["date"] for row in await rows_of(artist_id)] == [day]
    [run] = await CronRun.select().where(CronRun.job == "analytics-daily")
    assert run["outcome"] == "succeeded"

    refused = await run_umbrella("cron", "sessions-cleanup", "--date", day.isoformat(), env=env)
    assert refused.code == 2
    assert "does not take --date" in refused.stderr
    bad = await run_umbrella("cron", "analytics-daily", "--date", "yesterday", env=env)
    assert bad.code == 2
