"""`umbrella_uploads_total` and `umbrella_storage_quota_rejections_total`, through the API."""

from __future__ import annotations

from typing import Any

from tests.conftest import start_client
from tests.files.flow import (
    MB,
    Client,
    artist_session,
    confirm,
    data_of,
    error_of,
    sent,
    set_quota,
    ticket_for,
)
from tests.metrics import sample
from tests.uploads import MP3, PDF, PNG
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.observability.metrics import Metrics

OUTCOMES = ("ok", "rejected", "failed")
STEPS = [(step, outcome) for step in ("start", "confirm") for outcome in OUTCOMES]


def steps(metrics: Metrics, purpose: str) -> dict[str, float]:
    """`umbrella_uploads_total` of one purpose, keyed `step/outcome`, zeros left out."""
    counted = {
        f"{step}/{outcome}": sample(
            metrics, "umbrella_uploads_total", purpose=purpose, step=step, outcome=outcome
        )
        for step, outcome in STEPS
    }
    return {name: value for name, value in counted.items() if value}


def quota_rejections(metrics: Metrics) -> float:
    return sample(metrics, "umbrella_storage_quota_rejections_total")


async def test_an_upload_counts_its_start_and_its_confirm(client: Client) -> None:
    metrics = client.app[keys.METRICS]
    _, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, PNG, "image/png")
    await sent(ticket, PNG)
    await data_of(await confirm(client, headers, ticket["upload_id"]), 201)

    assert steps(metrics, "file") == {"start/ok": 1, "confirm/ok": 1}
    assert steps(metrics, "track") == {}
    assert quota_rejections(metrics) == 0


async def test_the_clients_mistakes_are_counted_as_rejected(client: Client) -> None:
    metrics = client.app[keys.METRICS]
    _, headers = await artist_session(client)
    too_big = {"content_type": "image/png", "size_bytes": 10 * MB + 1, "filename": "big.png"}
    response = await client.post("/v1/files/upload", json=too_big, headers=headers)
    assert (await error_of(response, 413))["code"] == "PAYLOAD_TOO_LARGE"
    # Declared a PNG, sent a PDF: the bytes give it away at the confirm.
    ticket = await ticket_for(client, headers, PDF, "image/png")
    await sent(ticket, PDF)
    await error_of(await confirm(client, headers, ticket["upload_id"]), 400)
    # The same upload again: it was refused and removed, so there is none.
    await error_of(await confirm(client, headers, ticket["upload_id"]), 404)

    assert steps(metrics, "file") == {"start/ok": 1, "start/rejected": 1, "confirm/rejected": 2}
    assert quota_rejections(metrics) == 0


async def test_each_upload_refused_for_the_quota_is_counted_once(client: Client) -> None:
    metrics = client.app[keys.METRICS]
    artist_id, headers = await artist_session(client)
    await set_quota(artist_id, limit_bytes=len(PNG) - 1)
    # At the start: the file cannot fit, so no URL is issued.
    response = await client.post(
        "/v1/files/upload",
        json={"content_type": "image/png", "size_bytes": len(PNG), "filename": "a.png"},
        headers=headers,
    )
    assert (await error_of(response, 400))["code"] == "QUOTA_EXCEEDED"
    assert quota_rejections(metrics) == 1
    track = {"content_type": "audio/mpeg", "size_bytes": len(MP3), "filename": "song"}
    response = await client.post("/v1/profile/tracks/upload", json=track, headers=headers)
    assert (await error_of(response, 400))["code"] == "QUOTA_EXCEEDED"
    assert quota_rejections(metrics) == 2

    # At the confirm: it fitted when the URL was issued, no longer when the bytes are in.
    await set_quota(artist_id, limit_bytes=10 * MB)
    ticket = await ticket_for(client, headers, PNG, "image/png")
    await sent(ticket, PNG)
    await set_quota(artist_id, limit_bytes=10 * MB, used=10 * MB - 1)
    refused: dict[str, Any] = await error_of(
        await confirm(client, headers, ticket["upload_id"]), 400
    )
    assert refused["code"] == "QUOTA_EXCEEDED"

    assert quota_rejections(metrics) == 3
    # The bytes were fine: the confirm's own checks passed before the quota refused them.
    assert steps(metrics, "file") == {"start/ok": 1, "confirm/ok": 1}


async def test_a_confirm_with_the_store_down_is_counted_as_failed(
    settings: Settings, own_s3: DevStack
) -> None:
    with_s3 = settings.model_copy(
        update={"s3_endpoint": own_s3.endpoints.s3_endpoint, "s3_timeout_seconds": 1}
    )
    client = await start_client(create_app(with_s3))
    try:
        metrics = client.app[keys.METRICS]
        _, headers = await artist_session(client)
        ticket = await ticket_for(client, headers, PNG, "image/png")
        await sent(ticket, PNG)

        own_s3.processes["s3"].stop()
        response = await confirm(client, headers, ticket["upload_id"])
        assert (await error_of(response, 503))["code"] == "SERVICE_UNAVAILABLE"

        assert steps(metrics, "file") == {"start/ok": 1, "confirm/failed": 1}
    finally:
        await client.close()
