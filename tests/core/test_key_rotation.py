"""Rotating UMBRELLA_SECRET_KEY: links and cursors signed before keep working, others do not."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.conftest import start_client
from tests.fans.people import (
    CSV_HEADER,
    Client,
    artist_session,
    data_of,
    error_of,
    import_csv,
    make_list,
    members,
    sent_delivery,
    suppressions,
)
from umbrella.app import create_app
from umbrella.config import Settings, SettingsError, load_settings
from umbrella.fans.unsubscribe import unsubscribe_url

OLD_KEY = "old-key-" + "o" * 40
NEW_KEY = "new-key-" + "n" * 40
UNKNOWN_KEY = "unknown-key-" + "u" * 40


def keyed(settings: Settings, key: str, *previous: str) -> Settings:
    """`settings` signing with `key` and still verifying with `previous` (a deployment)."""
    return settings.model_copy(
        update={
            "secret_key": SecretStr(key),
            "previous_secret_keys": [SecretStr(old) for old in previous],
        }
    )


async def started(settings: Settings) -> Client:
    return await start_client(create_app(settings))


async def test_an_unsubscribe_link_sent_before_a_rotation_still_unsubscribes(
    settings: Settings,
) -> None:
    before = await started(keyed(settings, OLD_KEY))
    try:
        artist_id, headers = await artist_session(before)
        list_id = await make_list(before, headers)
        fan = CSV_HEADER + "ana@example.com,,Ana,yes,,,\n"
        await data_of(await import_csv(before, headers, fan, list_id=list_id))
        [member] = await members(before, headers, list_id)
    finally:
        await before.close()
    delivery = await sent_delivery(
        artist_id, channel="email", address="ana@example.com", member_id=member["id"]
    )
    # The link as the email carried it, signed by the deployment of the day.
    link = unsubscribe_url(keyed(settings, OLD_KEY), delivery_id=delivery)
    path = link.removeprefix(settings.public_base_url.rstrip("/"))
    foreign = unsubscribe_url(keyed(settings, UNKNOWN_KEY), delivery_id=delivery)
    foreign_path = foreign.removeprefix(settings.public_base_url.rstrip("/"))

    after = await started(keyed(settings, NEW_KEY, OLD_KEY))
    try:
        # A link under a key this deployment never had is refused, and changes nothing.
        refused = await after.post(foreign_path, data={"List-Unsubscribe": "One-Click"})
        assert (await error_of(refused, 404))["field"] == "token"
        assert await suppressions(artist_id) == set()

        page = await after.get(path)
        assert page.status == 200, await page.text()
        done = await after.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status == 200, await done.text()
        assert await suppressions(artist_id) == {("email", "ana@example.com", "unsubscribe")}
    finally:
        await after.close()

    # Once the old key is dropped from the list, its links stop working.
    dropped = await started(keyed(settings, NEW_KEY))
    try:
        response = await dropped.get(path)
        assert (await error_of(response, 404))["field"] == "token"
    finally:
        await dropped.close()


async def test_a_cursor_handed_out_before_a_rotation_still_turns_the_page(
    settings: Settings,
) -> None:
    before = await started(keyed(settings, OLD_KEY))
    try:
        _, headers = await artist_session(before)
        for name in ("A", "B", "C"):
            await make_list(before, headers, name)
        first = await data_of(await before.get("/v1/contacts?limit=2", headers=headers))
    finally:
        await before.close()
    cursor = first["next_cursor"]
    assert cursor is not None

    after = await started(keyed(settings, NEW_KEY, OLD_KEY))
    try:
        second = await data_of(
            await after.get(f"/v1/contacts?limit=2&cursor={cursor}", headers=headers)
        )
        names = [item["name"] for item in first["items"] + second["items"]]
        assert sorted(names) == ["A", "B", "C"]
        assert second["next_cursor"] is None
    finally:
        await after.close()

    stranger = await started(keyed(settings, UNKNOWN_KEY))
    try:
        response = await stranger.get(f"/v1/contacts?cursor={cursor}", headers=headers)
        assert (await error_of(response, 400))["field"] == "cursor"
    finally:
        await stranger.close()


def test_previous_keys_are_a_comma_separated_list_of_long_keys(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    required = {
        "database_url": settings.database_url,
        "redis_url": settings.redis_url,
        "s3_endpoint": settings.s3_endpoint,
        "s3_access_key": "a",
        "s3_secret_key": "b",
        "email_backend": "console",
        "sms_backend": "console",
        "secret_key": NEW_KEY,
    }
    assert load_settings(**required).previous_secret_keys == []
    monkeypatch.setenv("UMBRELLA_PREVIOUS_SECRET_KEYS", f" {OLD_KEY} ,{UNKNOWN_KEY},")
    loaded = load_settings(**required)
    assert [key.get_secret_value() for key in loaded.previous_secret_keys] == [
        OLD_KEY,
        UNKNOWN_KEY,
    ]
    monkeypatch.setenv("UMBRELLA_PREVIOUS_SECRET_KEYS", f"{OLD_KEY},too-short")
    with pytest.raises(SettingsError, match="UMBRELLA_PREVIOUS_SECRET_KEYS") as raised:
        load_settings(**required)
    assert "too-short" not in str(raised.value)
