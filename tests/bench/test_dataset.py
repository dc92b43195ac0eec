"""The scale dataset: the requested rows, consistent with what the app shows, reproducible."""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.conftest import start_client
from tests.factories import bearer_for
from umbrella.config import Environment, Settings
from umbrella.dataset.builder import DatasetRefused, load_dataset
from umbrella.dataset.people import EMAIL_DOMAIN
from umbrella.dataset.size import DatasetSize
from umbrella_bench.targets import sample_targets

SIZE = DatasetSize(
    artists=200, venues=20, gigs=2_000, messages=3_000, conversations=120, fans=50, seed=7
)


async def _names(connection: asyncpg.Connection, first: int, count: int) -> list[tuple[str, ...]]:
    """Stage name, city and genre of the bench artists numbered first .. first + count - 1."""
    emails = [f"bench-artist-{n}@{EMAIL_DOMAIN}" for n in range(first, first + count)]
    rows = await connection.fetch(
        "SELECT u.email, a.stage_name, a.city, a.primary_genre FROM artists a"
        " JOIN users u ON u.id = a.user_id WHERE u.email = ANY($1::text[])",
        emails,
    )
    by_email = {
        row["email"]: (row["stage_name"], row["city"], row["primary_genre"]) for row in rows
    }
    return [by_email[email] for email in emails]


async def _data(response: Any) -> Any:
    body = await response.json()
    assert response.status == 200, body
    return body["data"]


async def test_the_dataset_is_what_the_app_would_show(
    settings: Settings, app: web.Application
) -> None:
    report = await load_dataset(settings, SIZE)
    for table, rows in (
        ("users", 220), ("artists", 200), ("storage_quotas", 200), ("gigs", 2_000),
        ("conversations", 120), ("messages", 3_000), ("contact_list_members", 50),
    ):  # fmt: skip
        assert report.rows(table) == rows, (table, str(report))
    assert "total" in str(report)

    connection = await asyncpg.connect(settings.database_url)
    client = await start_client(app)
    try:
        # Every counter equals its rows, as the product keeps them.
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM artists a WHERE follower_count <>"
                " (SELECT count(*) FROM artist_followers f WHERE f.artist_id = a.id)"
            )
            == 0
        )
        assert await connection.fetchval("SELECT max(follower_count) FROM artists") > 10
        # The 15-minute jobs' tables are filled, as on a live database.
        venues_with_gigs = await connection.fetchval("SELECT count(DISTINCT venue_id) FROM gigs")
        assert await connection.fetchval("SELECT count(*) FROM venue_stats") == venues_with_gigs
        assert report.rows("venue_stats") == venues_with_gigs
        assert await connection.fetchval("SELECT count(*) FROM gig_words") > 10
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM artists ar WHERE total_gigs <> (SELECT count(*) FROM"
                " gig_applications a JOIN gigs g ON g.id = a.gig_id WHERE a.artist_id = ar.id"
                " AND a.status = 'accepted' AND g.status = 'completed')"
            )
            == 0
        )
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM gigs g WHERE filled_slots <> (SELECT count(*) FROM"
                " gig_applications a WHERE a.gig_id = g.id AND a.status = 'accepted')"
            )
            == 0
        )
        # Unread counts, reads and the last message match the messages.
        assert (
            await connection.fetchval(
                """
            SELECT count(*) FROM conversations c
            CROSS JOIN LATERAL (
                SELECT max(m.created_at) AS last_at,
                       count(*) FILTER (WHERE m.sender_id = c.participant_2_id
                                        AND m.read_at IS NULL) AS unread_1,
                       count(*) FILTER (WHERE m.sender_id = c.participant_1_id
                                        AND m.read_at IS NULL) AS unread_2,
                       max(m.read_at) FILTER (WHERE m.sender_id = c.participant_2_id) AS read_1
                FROM messages m WHERE m.conversation_id = c.id
            ) m
            WHERE c.last_message_at IS DISTINCT FROM m.last_at
               OR c.unread_count_1 <> m.unread_1 OR c.unread_count_2 <> m.unread_2
               OR c.last_read_at_1 IS DISTINCT FROM m.read_1
               OR c.last_activity_at <> coalesce(m.last_at, c.created_at)
            """
            )
            == 0
        )
        # A user's inbox version is the newest one stamped on their conversations.
        assert (
            await connection.fetchval(
                """
            SELECT count(*) FROM inbox_versions v WHERE v.version <> (
                SELECT max(CASE WHEN c.participant_1_id = v.user_id THEN c.version_1
                                ELSE c.version_2 END)
                FROM conversations c
                WHERE v.user_id IN (c.participant_1_id, c.participant_2_id))
            """
            )
            == 0
        )
        assert await connection.fetchval("SELECT count(*) FROM inbox_versions") > 0

        targets = await sample_targets(connection, limit=5)
        for found in (targets.artist_ids, targets.venue_user_ids, targets.fan_list_ids,
                      targets.gig_filters, targets.long_conversations,
                      targets.idle_conversations):  # fmt: skip
            assert found

        # Browsing a busy city and genre walks through the seeded open gigs.
        artist_user = targets.artist_user_ids[0]
        headers = await bearer_for(client.app, artist_user)
        wanted = targets.gig_filters[0]
        response = await client.get(
            "/v1/gigs",
            params={"city": wanted.city, "state": wanted.state, "genre": wanted.genre,
                    "limit": "100"},
            headers=headers,
        )  # fmt: skip
        items = (await _data(response))["items"]
        assert len(items) == min(wanted.open_gigs, 100)
        assert {(gig["city"], gig["genre"]) for gig in items} == {(wanted.city, wanted.genre)}

        # A seeded profile is public.
        artist_id = targets.artist_ids[0]
        stage_name = await connection.fetchval(
            "SELECT stage_name FROM artists WHERE id = $1", artist_id
        )
        profile = await _data(await client.get(f"/v1/profile/{artist_id}", headers=headers))
        assert profile["stage_name"] == stage_name

        # The busiest conversation shows in its participant's inbox as stored.
        busiest = targets.long_conversations[0]
        row = await connection.fetchrow(
            "SELECT unread_count_1, last_message_preview FROM conversations WHERE id = $1",
            busiest.id,
        )
        inbox = await _data(
            await client.get(
                "/v1/conversations",
                params={"limit": "100"},
                headers=await bearer_for(client.app, busiest.participant_1_id),
            )
        )
        shown = {item["id"]: item for item in inbox["items"]}
        assert str(busiest.id) in shown
        item = shown[str(busiest.id)]
        assert (item["unread_count"], item["last_message_preview"]) == (
            row["unread_count_1"],
            row["last_message_preview"],
        )
        assert item["other"]["user_id"] == str(busiest.participant_2_id)
    finally:
        await client.close()
        await connection.close()


async def test_the_same_seed_gives_the_same_people_beside_the_first(settings: Settings) -> None:
    size = DatasetSize(artists=50, venues=5, seed=7)
    await load_dataset(settings, size)
    again = await load_dataset(settings, size)  # new ids and emails: no collision
    assert again.rows("artists") == 50
    connection = await asyncpg.connect(settings.database_url)
    try:
        first, second = await _names(connection, 0, 50), await _names(connection, 55, 50)
        assert first == second
        assert len(set(first)) > 25
    finally:
        await connection.close()


async def test_production_is_refused(settings: Settings) -> None:
    production = settings.model_copy(update={"env": Environment.PRODUCTION})
    with pytest.raises(DatasetRefused):
        await load_dataset(production, DatasetSize(artists=1))


def test_no_count_keeps_the_demo_seed() -> None:
    parser = argparse.ArgumentParser()
    DatasetSize.add_arguments(parser)
    assert DatasetSize.from_args(parser.parse_args([])) is None
    assert DatasetSize.from_args(parser.parse_args(["--seed", "3"])) is None
    size = DatasetSize.from_args(parser.parse_args(["--artists", "100_000", "--gigs", "1000"]))
    assert size == DatasetSize(artists=100_000, gigs=1_000, seed=1)
    assert size.resolved().venues == 10
