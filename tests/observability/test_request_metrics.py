"""The request histogram tells a 503 answered by design from a failure users should not see.

A provider this deployment has not configured (Violet without an Anthropic key, the Resend or
Twilio webhook without its secret) answers 503 SERVICE_UNAVAILABLE, as SPEC §3 says; the
request metric marks those `reason="not_configured"`, so the availability SLO and its alerts
leave them out. A 503 because a provider is down stays unmarked and counts.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import start_client
from tests.fakes.anthropic import FakeAnthropic, use_fake_anthropic
from tests.metrics import sample
from tests.violet.violet import signed_in_artist
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]
REQUESTS = "umbrella_http_request_duration_seconds_count"


def requests(client: Client, route: str, status: str, reason: str, method: str = "POST") -> float:
    metrics = client.app[keys.METRICS]
    labels = {"route": route, "method": method, "status": status, "reason": reason}
    return sample(metrics, REQUESTS, **labels)


async def test_503s_of_providers_not_configured_are_marked(client: Client) -> None:
    settings = client.app[keys.SETTINGS]
    assert settings.resend_webhook_secret is None
    assert settings.twilio_auth_token is None
    assert settings.anthropic_api_key is None
    _, headers = await signed_in_artist(client)
    calls = (
        ("/v1/webhooks/resend", {"data": b"{}"}),
        ("/v1/webhooks/twilio/inbound", {"data": {"Body": "STOP"}}),
        ("/v1/violet/prompt", {"json": {"prompt": "What next?"}, "headers": headers}),
    )
    for route, request in calls:
        for _ in range(3):
            response = await client.post(route, **request)
            assert response.status == 503, route
            # The envelope is the API's usual one: the mark is for the metric alone.
            assert (await response.json())["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert requests(client, route, "503", "not_configured") == 3, route
        assert requests(client, route, "503", "") == 0, route
    # Every other answer carries an empty reason, which Prometheus stores as no label.
    assert (await client.get("/v1/auth/session")).status == 401
    assert requests(client, "/v1/auth/session", "401", "", method="GET") == 1


async def test_a_503_because_a_provider_is_down_counts_as_a_failure(
    settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    client = await start_client(create_app(use_fake_anthropic(settings, fake_anthropic)))
    try:
        _, headers = await signed_in_artist(client)
        fake_anthropic.fail("overloaded")
        response = await client.post(
            "/v1/violet/prompt", json={"prompt": "What next?"}, headers=headers
        )
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert requests(client, "/v1/violet/prompt", "503", "") == 1
        assert requests(client, "/v1/violet/prompt", "503", "not_configured") == 0
    finally:
        await client.close()
