"""Issue 4, done when: a newcomer's whole life on Umbrella, then nothing of them is left.

Sign in with the (fake) provider, onboard, edit the profile, upload an avatar, invite a
review, submit it through the emailed link, see the rating, export the data and delete the
account. Afterwards no row of any table and no object in the bucket remains, and the token
no longer works. Everything runs for real: HTTP, Postgres, Redis, S3, the worker, the fakes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from piccolo.conf.apps import Finder

from tests.accounts.flows import sign_in
from tests.artists.conftest import STEPS
from tests.conftest import start_client
from tests.fakes.oidc import FakeOidcProvider, use_fake_oidc
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.uploads import PNG, post_form
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.core.cron_runs import CronRun
from umbrella.gigs.tables import GigShuffle

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def journey(
    settings: Settings, fake_oidc: FakeOidcProvider, fake_resend: FakeResend
) -> AsyncIterator[tuple[Client, Settings]]:
    configured = use_fake_resend(use_fake_oidc(settings, fake_oidc), fake_resend)
    client = await start_client(create_app(configured))
    yield client, configured
    await client.close()


async def data(response: aiohttp.ClientResponse, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body["data"]


async def every_row_count() -> dict[str, int]:
    """Rows in every table of the schema (the job queue's own tables are not ours)."""
    counts = {}
    for table in Finder().get_table_classes():
        if table in (CronRun, GigShuffle):  # operations state, not anyone's data
            continue
        counts[table._meta.tablename] = await table.count()
    return counts


async def test_a_newcomer_lives_on_umbrella_then_leaves_without_a_trace(
    journey: tuple[Client, Settings], fake_oidc: FakeOidcProvider, fake_resend: FakeResend
) -> None:
    client, settings = journey
    storage = client.app[keys.STORAGE]
    fake_oidc.identity = {
        "sub": "109876543210",
        "email": "Nova.Reyes@example.com",
        "email_verified": True,
        "name": "Nova Reyes",
    }

    # Sign in: a new account, onboarding ahead.
    signed_in = await data(await sign_in(client, "google"))
    auth = {"Authorization": f"Bearer {signed_in['token']}"}
    assert signed_in["session"]["user"]["email"] == "nova.reyes@example.com"
    assert signed_in["session"]["onboarding_complete"] is False
    assert signed_in["session"]["next_step"] == "role"

    # Onboarding: the role, then the five steps; the welcome email goes out.
    await data(await client.post("/v1/onboarding/role", json={"role": "artist"}, headers=auth))
    for number, answers in STEPS.items():
        path = f"/v1/onboarding/artists/step{number}"
        await data(await client.post(path, json=answers, headers=auth))
    status = await data(await client.get("/v1/onboarding/status", headers=auth))
    assert status["onboarding_complete"] is True
    assert status["next_step"] is None

    # The profile: edit it, upload an avatar and see it.
    edited = await data(
        await client.put("/v1/profile", json={"tagline": "Desert synth-pop at dusk"}, headers=auth)
    )
    artist_id = edited["id"]
    assert edited["tagline"] == "Desert synth-pop at dusk"
    ticket = await data(
        await client.post(
            "/v1/profile/avatar",
            json={"content_type": "image/png", "size_bytes": len(PNG)},
            headers=auth,
        ),
        status=201,
    )
    status_code, text = await post_form(ticket["url"], ticket["fields"], PNG)
    assert status_code in (200, 201, 204), text
    await data(
        await client.post(
            "/v1/profile/avatar/confirm", json={"upload_id": ticket["upload_id"]}, headers=auth
        )
    )
    profile = await data(await client.get("/v1/profile", headers=auth))
    async with aiohttp.ClientSession() as browser, browser.get(profile["avatar_url"]) as image:
        assert await image.read() == PNG

    # A review: invite a fan by email; the worker sends the link; the fan uses it once.
    await data(
        await client.post(
            "/v1/profile/reviews/invite", json={"email": "fan@example.org"}, headers=auth
        ),
        status=201,
    )
    async with in_process_worker(settings, store=storage):
        await eventually(
            lambda: _delivered(fake_resend, "fan@example.org"), what="the invitation was emailed"
        )
    [invitation] = [mail for mail in fake_resend.sent if mail["to"] == ["fan@example.org"]]
    link = re.search(r"/reviews#([A-Za-z0-9_-]{20,})", invitation["text"])
    assert link is not None, invitation["text"]
    token = link.group(1)
    review = {"token": token, "rating": 5, "comment": "Stunning set.", "reviewer_name": "Sam"}
    await data(await client.post("/v1/reviews/invitations/review", json=review), status=201)
    replayed = await client.post("/v1/reviews/invitations/review", json=review)
    assert replayed.status == 409
    public = await data(await client.get(f"/v1/profile/{artist_id}"))
    assert (public["total_reviews"], float(public["avg_rating"])) == (1, 5.0)
    assert "email" not in public

    # Export: everything of theirs, as a download.
    export = await client.get("/v1/settings/export", headers=auth)
    assert export.status == 200
    assert "attachment" in export.headers["Content-Disposition"]
    exported = (await export.json())["data"]
    assert exported["artists"][0]["stage_name"] == STEPS[1]["stage_name"]
    assert exported["artists"][0]["tagline"] == "Desert synth-pop at dusk"
    assert [r["rating"] for r in exported["reviews"]["received"]] == [5]
    # The address the artist typed is theirs; the reviewer's own field is not exported.
    assert [i["email"] for i in exported["review_invitations"]] == ["fan@example.org"]
    assert "reviewer_email" not in exported["reviews"]["received"][0]

    # Leave: one call; the worker cleans the bucket.
    before = await every_row_count()
    for table in ("users", "sessions", "artists", "reviews", "review_invitations", "notifications"):
        assert before[table] > 0, table
    assert not await _bucket_is_empty(storage)
    gone = await data(
        await client.delete("/v1/settings/account", json={"confirm": "DELETE"}, headers=auth)
    )
    assert gone["deleted"] is True
    assert (await client.get("/v1/auth/session", headers=auth)).status == 401
    async with in_process_worker(settings, store=storage):
        await eventually(lambda: _bucket_is_empty(storage), what="the bucket was emptied")

    assert {name: n for name, n in (await every_row_count()).items() if n} == {}
    assert not await _profile_cached(client, artist_id)
    assert (await client.get(f"/v1/profile/{artist_id}")).status == 404


async def _delivered(fake: FakeResend, address: str) -> bool:
    return any(mail["to"] == [address] for mail in fake.sent)


async def _bucket_is_empty(storage: Any) -> bool:
    async for _ in storage.client.list_objects(storage.bucket, recursive=True):
        return False
    return True


async def _profile_cached(client: Client, artist_id: str) -> bool:
    return bool(await client.app[keys.REDIS].exists(f"profile:{artist_id}"))
