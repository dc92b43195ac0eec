"""Onboarding as a new user lives it: role, five steps in order, D-006 restarts, the welcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.artists.conftest import (
    STEP1,
    STEP2,
    STEP3,
    STEP4,
    STEP5,
    Client,
    Person,
    artist_rows,
    data_of,
    error_of,
    new_user,
    submit_step,
    user_row,
)
from umbrella import keys
from umbrella.accounts.tables import User
from umbrella.notifications.tables import Notification
from umbrella.notifications.templates import render_email


async def status_of(client: Client, person: Person) -> dict[str, Any]:
    status: dict[str, Any] = await data_of(
        await client.get("/v1/onboarding/status", headers=person.headers)
    )
    return status


async def queued_jobs(client: Client) -> list[str]:
    rows = await client.app[keys.DB].run_ddl("SELECT entrypoint FROM pgqueuer ORDER BY id")
    return [row["entrypoint"] for row in rows]


async def test_an_artist_onboards_in_five_steps_and_is_welcomed(
    client: Client, person: Person
) -> None:
    status = await status_of(client, person)
    assert status["next_step"] == "role"
    assert status["role"] is None  # nobody chose one yet
    assert status["onboarding_complete"] is False

    chosen = await data_of(
        await client.post("/v1/onboarding/role", json={"role": "artist"}, headers=person.headers)
    )
    assert (chosen["next_step"], chosen["role"]) == ("step1", "artist")
    # The choice is remembered: the status, and a session opened later, go on at step 1.
    assert (await status_of(client, person))["next_step"] == "step1"
    assert (await status_of(client, await new_user_session(client, person)))["next_step"] == (
        "step1"
    )

    for step in range(1, 6):
        status = await data_of(await submit_step(client, person, step))
        assert status["onboarding_step"] == step
        assert status["steps_done"] == [f"step{n}" for n in range(1, step + 1)]
        assert status["next_step"] == (f"step{step + 1}" if step < 5 else None)
    assert status["onboarding_complete"] is True
    assert (await user_row(person.user_id))["onboarding_complete"] is True

    (artist,) = await artist_rows(person.user_id)
    assert artist["stage_name"] == "Luna Vega"
    assert artist["legal_name"] == "Luna María Vega"
    assert artist["secondary_genres"] == ["pop", "folk"]
    assert str(artist["hourly_rate"]) == "120.50"
    assert artist["available_weekends"] is True
    assert artist["years_performing"] == 6
    assert artist["struggles_niche"] is True
    assert artist["understands_royalties"] is False

    # The welcome email is queued with the completing write (the worker sends it).
    (welcome,) = await Notification.select().where(Notification.user_id == person.user_id)
    assert welcome["kind"] == "welcome"
    assert welcome["status"] == "queued"
    assert welcome["channel"] == "email"
    assert "Luna Vega" in str(welcome["payload"])
    assert "send_notification" in await queued_jobs(client)

    # Complete: a step again is a conflict, and the profile is public.
    again = await submit_step(client, person, 1)
    assert again.status == 409
    assert (await error_of(again))["field"] == "step"
    public = await client.get(f"/v1/profile/{artist['id']}")
    assert public.status == 200


BAD_STEPS = [
    pytest.param(1, {**STEP1, "stage_name": "x" * 101}, "stage_name", id="101-char stage name"),
    pytest.param(1, {**STEP1, "stage_name": "   "}, "stage_name", id="blank stage name"),
    pytest.param(1, {**STEP1, "genre": "rock"}, "genre", id="extra field"),
    pytest.param(1, {k: v for k, v in STEP1.items() if k != "city"}, "city", id="missing city"),
    pytest.param(1, {**STEP1, "pronouns": "p" * 51}, "pronouns", id="long pronouns"),
    pytest.param(1, {**STEP1, "city": "Austin\x00"}, "city", id="NUL character"),
    pytest.param(2, {**STEP2, "tagline": "t" * 161}, "tagline", id="161-char tagline"),
    pytest.param(2, {**STEP2, "bio": "b" * 2001}, "bio", id="2001-char bio"),
    pytest.param(3, {**STEP3, "primary_genre": "yacht_rock"}, "primary_genre", id="unknown genre"),
    pytest.param(
        3, {**STEP3, "secondary_genres": ["pop", "nope"]}, "secondary_genres.1", id="bad 2nd"
    ),
    pytest.param(
        3, {**STEP3, "secondary_genres": ["indie"]}, "secondary_genres", id="primary repeated"
    ),
    pytest.param(3, {**STEP3, "platforms": ["myspace"]}, "platforms.0", id="unknown platform"),
    pytest.param(3, {**STEP3, "performance_types": ["mime"]}, "performance_types.0", id="bad type"),
    pytest.param(3, {**STEP3, "influences": ["i"] * 21}, "influences", id="too many influences"),
    pytest.param(4, {**STEP4, "flat_rate": -1}, "flat_rate", id="negative rate"),
    pytest.param(4, {**STEP4, "hourly_rate": "12.345"}, "hourly_rate", id="fraction of a cent"),
    pytest.param(4, {**STEP4, "flat_rate": "NaN"}, "flat_rate", id="NaN rate"),
    pytest.param(4, {**STEP4, "travel_radius_miles": -5}, "travel_radius_miles", id="neg radius"),
    pytest.param(4, {**STEP4, "advance_booking_weeks": 500}, "advance_booking_weeks", id="500 wk"),
    pytest.param(4, {**STEP4, "rates_negotiable": "yes"}, "rates_negotiable", id="not a bool"),
    pytest.param(5, {**STEP5, "years_performing": -1}, "years_performing", id="negative years"),
    pytest.param(
        5, {k: v for k, v in STEP5.items() if k != "paid_fairly"}, "paid_fairly", id="unanswered"
    ),
]


@pytest.mark.parametrize(("step", "body", "field"), BAD_STEPS)
async def test_invalid_answers_are_refused_naming_the_field_and_nothing_is_written(
    client: Client, person: Person, step: int, body: dict[str, Any], field: str
) -> None:
    for earlier in range(1, step):
        assert (await submit_step(client, person, earlier)).status == 200
    user_before = await user_row(person.user_id)
    artists_before = await artist_rows(person.user_id)

    response = await submit_step(client, person, step, body)

    assert response.status == 400
    error = await error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert error["field"] == field
    assert await user_row(person.user_id) == user_before
    assert await artist_rows(person.user_id) == artists_before


async def test_a_step_out_of_order_restarts_onboarding_at_step_1(
    client: Client, person: Person
) -> None:
    assert (await submit_step(client, person, 1)).status == 200
    assert (await submit_step(client, person, 2)).status == 200
    artists_before = await artist_rows(person.user_id)

    skipped = await submit_step(client, person, 4)

    assert skipped.status == 409
    error = await error_of(skipped)
    assert error["code"] == "CONFLICT"
    assert error["field"] == "step"
    assert "restarts at step 1" in error["message"]
    # D-006: back to the start, and the skipped step's answers were not written.
    assert (await user_row(person.user_id))["onboarding_step"] == 0
    assert await artist_rows(person.user_id) == artists_before
    assert (await status_of(client, person))["next_step"] == "step1"
    # Now step 3 is out of order too (the visit starts over) …
    assert (await submit_step(client, person, 3)).status == 409
    # … and step 1 is where it goes on.
    assert (await submit_step(client, person, 1)).status == 200
    assert (await submit_step(client, person, 2)).status == 200


async def test_step_2_first_is_out_of_order(client: Client, person: Person) -> None:
    response = await submit_step(client, person, 2)
    assert response.status == 409
    assert (await error_of(response))["field"] == "step"
    assert await artist_rows(person.user_id) == []


async def test_a_returning_user_restarts_at_step_1_and_keeps_one_profile(
    client: Client, person: Person
) -> None:
    for step in (1, 2, 3):
        assert (await submit_step(client, person, step)).status == 200
    (first,) = await artist_rows(person.user_id)
    # What sign-in does for an unfinished onboarding (another part of the code): step 0.
    await User.update({User.onboarding_step: 0}).where(User.id == person.user_id)
    returning = await new_user_session(client, person)

    status = await status_of(client, returning)
    assert status["next_step"] == "step1"
    assert status["has_artist_profile"] is True
    assert (await submit_step(client, returning, 4)).status == 409

    renamed = {**STEP1, "stage_name": "Luna V."}
    assert (await submit_step(client, returning, 1, renamed)).status == 200
    for step in (2, 3, 4, 5):
        assert (await submit_step(client, returning, step)).status == 200
    (artist,) = await artist_rows(person.user_id)
    assert artist["id"] == first["id"]
    assert artist["stage_name"] == "Luna V."
    assert (await user_row(person.user_id))["onboarding_complete"] is True


async def new_user_session(client: Client, person: Person) -> Person:
    from tests.factories import bearer_for

    return Person(user_id=person.user_id, headers=await bearer_for(client.app, person.user_id))


async def test_a_venue_is_done_at_once_and_cannot_take_artist_steps(
    client: Client, person: Person
) -> None:
    response = await client.post(
        "/v1/onboarding/role",
        json={"role": "venue", "venue_name": "  The Mohawk  "},
        headers=person.headers,
    )
    status = await data_of(response)
    assert status["role"] == "venue"
    assert status["onboarding_complete"] is True
    assert status["next_step"] is None
    user = await user_row(person.user_id)
    assert (user["role"], user["display_name"]) == ("venue", "The Mohawk")
    (welcome,) = await Notification.select().where(Notification.user_id == person.user_id)
    assert welcome["kind"] == "welcome"
    email = render_email("welcome", json.loads(welcome["payload"]))
    assert "Post a gig" in email.text
    assert "Your profile is complete" not in email.text

    # The same session now carries the venue role (its cached copy was dropped).
    assert (await client.get("/v1/profile", headers=person.headers)).status == 403
    step = await submit_step(client, person, 1)
    assert step.status == 403
    assert await artist_rows(person.user_id) == []
    # Onboarding is over: no second role.
    again = await client.post(
        "/v1/onboarding/role", json={"role": "artist"}, headers=person.headers
    )
    assert again.status == 409
    assert (await error_of(again))["field"] == "role"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"role": "venue"}, id="venue without a name"),
        pytest.param({"role": "artist", "venue_name": "The Mohawk"}, id="artist with a venue name"),
        pytest.param({"role": "venue", "venue_name": "v" * 101}, id="101-char venue name"),
        pytest.param({"role": "fan"}, id="unknown role"),
    ],
)
async def test_bad_role_choices_are_refused(
    client: Client, person: Person, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/onboarding/role", json=body, headers=person.headers)
    assert response.status == 400
    error = await error_of(response)
    assert error["field"] == ("role" if body["role"] == "fan" else "venue_name")
    user = await user_row(person.user_id)
    assert (user["role"], user["onboarding_complete"]) == ("artist", False)


async def test_an_artist_with_a_profile_cannot_become_a_venue(
    client: Client, person: Person
) -> None:
    assert (await submit_step(client, person, 1)).status == 200
    response = await client.post(
        "/v1/onboarding/role", json={"role": "venue", "venue_name": "Mine"}, headers=person.headers
    )
    assert response.status == 409
    assert (await error_of(response))["field"] == "role"
    user = await user_row(person.user_id)
    assert (user["role"], user["onboarding_complete"], user["display_name"]) == (
        "artist",
        False,
        "Test User",
    )
    assert await Notification.count() == 0


async def test_onboarding_needs_a_session(client: Client) -> None:
    assert (await client.get("/v1/onboarding/status")).status == 401
    assert (await client.post("/v1/onboarding/artists/step1", json=STEP1)).status == 401


async def test_an_admin_does_not_onboard(client: Client) -> None:
    admin = await new_user(client, role="admin")
    response = await client.post(
        "/v1/onboarding/role", json={"role": "artist"}, headers=admin.headers
    )
    assert response.status == 403
    assert (await submit_step(client, admin, 1)).status == 403
