"""Reviews as artists, invitees and venues live them: invite, review once, see the totals."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.conftest import start_client
from tests.factories import bearer_for, make_artist, make_user
from tests.fakes.resend import FakeResend
from tests.workers import eventually, in_process_worker
from umbrella.app import create_app
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.gigs.tables import Gig, GigApplication
from umbrella.notifications.tables import Notification
from umbrella.reviews.service import DAILY_INVITATIONS
from umbrella.reviews.tables import Review, ReviewInvitation, VenueReview

Client = TestClient[web.Request, web.Application]
TOKEN_IN_LINK = re.compile(r"/reviews#([A-Za-z0-9_-]{43})\b")


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def artist_session(
    client: Client, stage_name: str = "Luna Vega", email: str | None = None
) -> tuple[UUID, dict[str, str]]:
    user_id, artist_id = await make_artist(stage_name=stage_name, email=email)
    return artist_id, await bearer_for(client.app, user_id)


async def invite(
    client: Client, headers: dict[str, str], email: str, note: str | None = None
) -> str:
    """Invite `email`; return the token, read where only the invitee sees it: the email."""
    response = await client.post(
        "/v1/profile/reviews/invite", json={"email": email, "note": note}, headers=headers
    )
    assert response.status == 201, await response.text()
    body = await response.text()
    rows = await Notification.select(Notification.payload).where(
        (Notification.kind == "review_invitation") & (Notification.recipient == email.lower())
    )
    payload = json.loads(rows[-1]["payload"])
    match = TOKEN_IN_LINK.search(payload["review_url"])
    assert match is not None
    token = match.group(1)
    assert token not in body  # the inviting artist never sees the link
    return token


async def totals(artist_id: UUID) -> tuple[Decimal, int]:
    row = (
        await Artist.select(Artist.avg_rating, Artist.total_reviews)
        .where(Artist.id == artist_id)
        .first()
    )
    assert row is not None
    return row["avg_rating"], row["total_reviews"]


async def test_an_invitation_stores_only_the_token_hash_and_queues_the_email(
    client: Client, settings: Settings
) -> None:
    artist_id, headers = await artist_session(client)

    token = await invite(client, headers, "Fan@Example.com", note="Thanks for the show!")

    row = await ReviewInvitation.select().first()
    assert row is not None
    assert row["artist_id"] == artist_id
    assert row["email"] == "fan@example.com"
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["used_at"] is None
    assert row["expires_at"] - row["created_at"] == timedelta(days=30)
    notification = await Notification.select().first()
    assert notification is not None
    payload = json.loads(notification["payload"])
    assert payload["artist_name"] == "Luna Vega"
    assert payload["review_url"] == f"{settings.app_url}/reviews#{token}"
    assert payload["note"] == "Thanks for the show!"

    status = await client.post("/v1/reviews/invitations/check", json={"token": token})
    assert status.status == 200
    data = (await status.json())["data"]
    assert data["artist_id"] == str(artist_id)
    assert data["artist_name"] == "Luna Vega"
    assert (data["usable"], data["reason"]) == (True, None)
    assert "fan@example.com" not in await status.text()


async def test_bad_invitations_are_refused_and_write_nothing(client: Client) -> None:
    _, headers = await artist_session(client, email="luna@example.com")
    venue = await bearer_for(client.app, await make_user(role="venue"))
    cases = [
        (headers, {"email": "not-an-email"}, 400, "email"),
        (headers, {"email": "LUNA@example.com"}, 400, "email"),  # yourself
        (headers, {"email": "fan@example.com", "note": "x" * 501}, 400, "note"),
        (headers, {"email": "fan@example.com", "token": "x"}, 400, "token"),
        (venue, {"email": "fan@example.com"}, 403, None),
    ]
    for who, body, status, field in cases:
        response = await client.post("/v1/profile/reviews/invite", json=body, headers=who)
        assert response.status == status, body
        assert (await error_of(response)).get("field") == field, body
    assert (await client.post("/v1/profile/reviews/invite", json={"email": "a@b.co"})).status == 401
    assert await ReviewInvitation.count() == 0
    assert await Notification.count() == 0


async def test_invitations_are_bounded_per_artist_per_day(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    start = datetime.now(UTC) - timedelta(hours=23)
    await ReviewInvitation.insert(
        *[
            ReviewInvitation(
                artist_id=artist_id,
                email=f"fan{n}@example.com",
                token_hash=hashlib.sha256(f"t{n}".encode()).hexdigest(),
                created_at=start + timedelta(minutes=n),
                expires_at=start + timedelta(days=30),
            )
            for n in range(DAILY_INVITATIONS)
        ]
    )

    response = await client.post(
        "/v1/profile/reviews/invite", json={"email": "one-more@example.com"}, headers=headers
    )

    assert response.status == 429
    assert (await error_of(response))["code"] == "RATE_LIMIT_EXCEEDED"
    # the oldest of the day leaves the window in about an hour
    assert 3500 <= int(response.headers["Retry-After"]) <= 3600
    assert await ReviewInvitation.count() == DAILY_INVITATIONS
    assert await Notification.count() == 0
    # another artist is not affected
    _, other = await artist_session(client, "Other")
    await invite(client, other, "fan@example.com")


async def test_the_invitee_gets_the_email_and_reviews_through_its_link(
    settings: Settings, fake_resend: FakeResend, resend_settings: Settings, redis_client: Redis
) -> None:
    client = await start_client(create_app(resend_settings))
    try:
        artist_id, headers = await artist_session(client)
        response = await client.post(
            "/v1/profile/reviews/invite",
            json={"email": "booker@example.com", "note": "Loved playing your room"},
            headers=headers,
        )
        assert response.status == 201
        async with in_process_worker(resend_settings):
            await eventually(lambda: _sent(fake_resend), what="the invitation email")
        email = fake_resend.sent[0]
        assert email["to"] in ("booker@example.com", ["booker@example.com"])
        assert email["subject"] == "Luna Vega asked you for a review"
        assert "Loved playing your room" in email["text"]
        match = TOKEN_IN_LINK.search(email["text"])
        assert match is not None

        await redis_client.set(f"profile:{artist_id}", "{}")
        review = await client.post(
            "/v1/reviews/invitations/review",
            json={
                "token": match.group(1),
                "rating": 4,
                "comment": "  Great set, on time.  ",
                "reviewer_name": "Sam",
            },
        )
        assert review.status == 201, await review.text()
        data = (await review.json())["data"]
        assert (data["rating"], data["comment"], data["reviewer_name"]) == (
            4,
            "Great set, on time.",
            "Sam",
        )
        assert data["source"] == "invitation"
        assert not await redis_client.exists(f"profile:{artist_id}")
        stored = await Review.select(Review.reviewer_email, Review.invitation_id).first()
        assert stored is not None
        assert stored["reviewer_email"] == "booker@example.com"
        assert await totals(artist_id) == (Decimal("4.00"), 1)
    finally:
        await client.close()


async def _sent(fake: FakeResend) -> bool:
    return len(fake.sent) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": 4.5}, "rating"),
        ({"rating": "5"}, "rating"),
        ({}, "rating"),
        ({"rating": 5, "comment": "x" * 2001}, "comment"),
        ({"rating": 5, "reviewer_name": "x" * 101}, "reviewer_name"),
        ({"rating": 5, "reviewer_email": "me@example.com"}, "reviewer_email"),
    ],
)
async def test_a_bad_review_writes_nothing_and_keeps_the_link(
    client: Client, body: dict[str, Any], field: str
) -> None:
    artist_id, headers = await artist_session(client)
    token = await invite(client, headers, "fan@example.com")

    response = await client.post("/v1/reviews/invitations/review", json={"token": token, **body})

    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)
    assert await Review.count() == 0
    assert (await ReviewInvitation.select(ReviewInvitation.used_at).first()) == {"used_at": None}
    assert await totals(artist_id) == (Decimal("0.00"), 0)


async def test_a_link_takes_one_review_even_when_submitted_concurrently(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    token = await invite(client, headers, "fan@example.com")

    answers = await asyncio.gather(
        *[
            client.post(
                "/v1/reviews/invitations/review", json={"token": token, "rating": 1 + n % 5}
            )
            for n in range(8)
        ]
    )

    assert sorted(answer.status for answer in answers) == [201] + [409] * 7
    for answer in answers:
        if answer.status == 409:
            error = await error_of(answer)
            assert (error["code"], error["field"]) == ("CONFLICT", "token")
    assert await Review.count() == 1
    assert (await totals(artist_id))[1] == 1
    status = await (
        await client.post("/v1/reviews/invitations/check", json={"token": token})
    ).json()
    assert (status["data"]["usable"], status["data"]["reason"]) == (False, "used")


async def test_expired_and_unknown_links(client: Client) -> None:
    _, headers = await artist_session(client)
    token = await invite(client, headers, "late@example.com")
    long_ago = datetime.now(UTC) - timedelta(days=31)
    await ReviewInvitation.update(
        {
            ReviewInvitation.created_at: long_ago,
            ReviewInvitation.expires_at: long_ago + timedelta(days=30),
        },
        force=True,
    )

    expired = await client.post(
        "/v1/reviews/invitations/review", json={"token": token, "rating": 5}
    )
    assert expired.status == 400
    error = await error_of(expired)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "token")
    assert "expired" in error["message"]
    status = await (
        await client.post("/v1/reviews/invitations/check", json={"token": token})
    ).json()
    assert (status["data"]["usable"], status["data"]["reason"]) == (False, "expired")

    for unknown, status_code in (("x" * 43, 404), ("y" * 500, 400)):
        for response in (
            await client.post("/v1/reviews/invitations/check", json={"token": unknown}),
            await client.post(
                "/v1/reviews/invitations/review", json={"token": unknown, "rating": 5}
            ),
        ):
            assert response.status == status_code
            assert (await error_of(response))["field"] == "token"
    assert await Review.count() == 0


async def test_concurrent_reviews_of_one_artist_give_exact_totals(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    tokens = [await invite(client, headers, f"fan{n}@example.com") for n in range(20)]
    ratings = [1 + (n * 3) % 5 for n in range(20)]

    answers = await asyncio.gather(
        *[
            client.post("/v1/reviews/invitations/review", json={"token": token, "rating": rating})
            for token, rating in zip(tokens, ratings, strict=True)
        ]
    )

    assert [answer.status for answer in answers] == [201] * 20
    average = (Decimal(sum(ratings)) / 20).quantize(Decimal("0.01"))
    assert await totals(artist_id) == (average, 20)


async def test_reviews_are_public_newest_first_and_never_show_emails(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    for n in range(5):
        token = await invite(client, headers, f"fan{n}@example.com")
        response = await client.post(
            "/v1/reviews/invitations/review",
            json={
                "token": token,
                "rating": 5,
                "comment": f"review {n}",
                "reviewer_name": f"Fan {n}",
            },
        )
        assert response.status == 201

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"/v1/profile/{artist_id}/reviews", params=params)
        assert response.status == 200
        assert "@example.com" not in await response.text()
        page = (await response.json())["data"]
        seen += [item["comment"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"review {n}" for n in reversed(range(5))]

    unknown = await client.get(f"/v1/profile/{uuid.uuid4()}/reviews")
    assert unknown.status == 404
    bad_cursor = await client.get(f"/v1/profile/{artist_id}/reviews", params={"cursor": "x.y"})
    assert (await error_of(bad_cursor))["field"] == "cursor"


# --- after a completed gig (D-034) ------------------------------------------------------------


class GigSetup:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def create(self) -> GigSetup:
        now = datetime.now(UTC)
        self.venue_user = await make_user(role="venue", email="venue@example.com")
        self.venue = await bearer_for(self.client.app, self.venue_user)
        self.booked_user, self.booked = await make_artist(stage_name="Booked")
        self.rejected_user, self.rejected = await make_artist(stage_name="Rejected")
        self.gig = await self.gig_of(status="completed")
        self.open_gig = await self.gig_of(status="open")
        for gig in (self.gig, self.open_gig):
            await GigApplication.insert(
                GigApplication(
                    gig_id=gig,
                    artist_id=self.booked,
                    status="accepted",
                    applied_at=now,
                    responded_at=now,
                    updated_at=now,
                ),
                GigApplication(
                    gig_id=gig,
                    artist_id=self.rejected,
                    status="rejected",
                    applied_at=now,
                    responded_at=now,
                    updated_at=now,
                ),
            )
        return self

    async def gig_of(self, *, status: str) -> UUID:
        now = datetime.now(UTC)
        gig_id = uuid.uuid4()
        await Gig.insert(
            Gig(
                id=gig_id,
                venue_id=self.venue_user,
                title="Friday Jazz Night",
                venue_name="The Blue Room",
                city="Austin",
                state="TX",
                date=date.today() - timedelta(days=1),
                payment_amount=Decimal("300.00"),
                payment_type="flat",
                capacity=2,
                filled_slots=1,
                status=status,
                completed_at=now if status == "completed" else None,
                created_at=now,
                updated_at=now,
            )
        )
        return gig_id

    async def as_user(self, user_id: UUID) -> dict[str, str]:
        return await bearer_for(self.client.app, user_id)


@pytest.fixture
async def gig(client: Client) -> GigSetup:
    return await GigSetup(client).create()


async def test_the_venue_reviews_each_booked_artist_once(
    client: Client, gig: GigSetup, redis_client: Redis
) -> None:
    path = f"/v1/gigs/{gig.gig}/reviews/artist/{gig.booked}"
    await redis_client.set(f"profile:{gig.booked}", "{}")

    response = await client.post(
        path, json={"rating": 5, "comment": "Packed room"}, headers=gig.venue
    )

    assert response.status == 201, await response.text()
    data = (await response.json())["data"]
    assert (data["source"], data["gig_id"], data["reviewer_name"]) == (
        "gig",
        str(gig.gig),
        "The Blue Room",
    )
    assert await totals(gig.booked) == (Decimal("5.00"), 1)
    assert not await redis_client.exists(f"profile:{gig.booked}")
    # reviews outlive the venue's account: the address is kept (never shown)
    stored = await Review.select(Review.reviewer_user_id, Review.reviewer_email).first()
    assert stored == {"reviewer_user_id": gig.venue_user, "reviewer_email": "venue@example.com"}

    again = await client.post(path, json={"rating": 1}, headers=gig.venue)
    assert again.status == 409
    assert (await error_of(again))["field"] == "artist_id"
    listed = await client.get(f"/v1/profile/{gig.booked}/reviews")
    assert [item["rating"] for item in (await listed.json())["data"]["items"]] == [5]
    assert "venue@example.com" not in await listed.text()


async def test_only_the_venue_of_a_completed_gig_reviews_its_booked_artists(
    client: Client, gig: GigSetup
) -> None:
    other_venue = await gig.as_user(await make_user(role="venue"))
    artist = await gig.as_user(gig.booked_user)
    cases = [
        (gig.venue, f"/v1/gigs/{gig.gig}/reviews/artist/{gig.rejected}", 403, "artist_id"),
        (gig.venue, f"/v1/gigs/{gig.gig}/reviews/artist/{uuid.uuid4()}", 403, "artist_id"),
        (gig.venue, f"/v1/gigs/{gig.open_gig}/reviews/artist/{gig.booked}", 403, "gig_id"),
        (other_venue, f"/v1/gigs/{gig.gig}/reviews/artist/{gig.booked}", 403, "gig_id"),
        (artist, f"/v1/gigs/{gig.gig}/reviews/artist/{gig.booked}", 403, "gig_id"),
        (gig.venue, f"/v1/gigs/{uuid.uuid4()}/reviews/artist/{gig.booked}", 404, "gig_id"),
        (gig.venue, f"/v1/gigs/{gig.gig}/reviews/artist/{gig.booked}", 400, "rating"),
    ]
    for headers, path, status, field in cases:
        rating = 0 if status == 400 else 4
        response = await client.post(path, json={"rating": rating}, headers=headers)
        assert response.status == status, path
        assert (await error_of(response))["field"] == field, path
    assert await Review.count() == 0
    assert await totals(gig.booked) == (Decimal("0.00"), 0)


async def test_a_booked_artist_reviews_the_venue_once(client: Client, gig: GigSetup) -> None:
    booked = await gig.as_user(gig.booked_user)
    rejected = await gig.as_user(gig.rejected_user)
    path = f"/v1/gigs/{gig.gig}/reviews/venue"

    response = await client.post(
        path, json={"rating": 4, "comment": "Paid on time"}, headers=booked
    )
    assert response.status == 201, await response.text()
    again = await client.post(path, json={"rating": 1}, headers=booked)
    assert again.status == 409
    assert (await error_of(again))["field"] == "gig_id"

    for headers, gig_path, status in [
        (rejected, path, 403),
        (booked, f"/v1/gigs/{gig.open_gig}/reviews/venue", 403),
        (gig.venue, path, 403),  # a venue has no artist profile
        (booked, f"/v1/gigs/{uuid.uuid4()}/reviews/venue", 404),
    ]:
        refused = await client.post(gig_path, json={"rating": 3}, headers=headers)
        assert refused.status == status, gig_path
    bad = await client.post(path, json={"rating": 6}, headers=rejected)
    assert (bad.status, (await error_of(bad))["field"]) == (400, "rating")
    assert await VenueReview.count() == 1

    listed = await client.get(f"/v1/venues/{gig.venue_user}/reviews")
    assert listed.status == 200
    items = (await listed.json())["data"]["items"]
    assert [(i["rating"], i["comment"], i["reviewer_name"]) for i in items] == [
        (4, "Paid on time", "Booked")
    ]
    assert items[0]["reviewer_artist_id"] == str(gig.booked)
    assert (await client.get(f"/v1/venues/{gig.booked_user}/reviews")).status == 404
    assert (await client.get(f"/v1/venues/{uuid.uuid4()}/reviews")).status == 404
