"""Unsubscribe links: a GET only shows a button; the POST (or one-click) takes effect at once."""

from __future__ import annotations

import uuid

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
from umbrella.config import Settings
from umbrella.fans.unsubscribe import unsubscribe_token


async def test_unsubscribe_is_a_button_then_immediate_and_idempotent(
    client: Client, settings: Settings
) -> None:
    artist_id, headers = await artist_session(client, "Luna <Vega>")
    other_id, other_headers = await artist_session(client, "Other")
    list_id = await make_list(client, headers)
    second_list = await make_list(client, headers, "VIP")
    fan = CSV_HEADER + "ana@example.com,+14155550101,Ana,yes,yes,,\n"
    for target in (list_id, second_list):
        await data_of(await import_csv(client, headers, fan, list_id=target))
    theirs = await make_list(client, other_headers)
    await data_of(await import_csv(client, other_headers, fan, list_id=theirs))
    [member] = await members(client, headers, list_id)
    delivery = await sent_delivery(
        artist_id, channel="email", address="ana@example.com", member_id=member["id"]
    )
    token = unsubscribe_token(settings, delivery_id=delivery)
    url = f"/v1/fans/unsubscribe?token={token}"

    # a mail scanner opening the link changes nothing
    page = await client.get(url)
    assert page.status == 200
    assert page.content_type == "text/html"
    text = await page.text()
    assert "Luna &lt;Vega&gt;" in text
    assert 'method="post"' in text
    assert token in text
    assert page.headers["Cache-Control"] == "no-store"
    assert await suppressions(artist_id) == set()

    # the button (or a mail app's RFC 8058 one-click POST)
    done = await client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200
    assert "unsubscribed" in await done.text()
    assert await suppressions(artist_id) == {("email", "ana@example.com", "unsubscribe")}
    for target in (list_id, second_list):
        [after] = await members(client, headers, target)
        assert after["email_opt_in"] is False
        assert after["email_suppressed"] is True
        assert after["sms_opt_in"] is True  # texts are another consent
    counts = await data_of(await client.get(f"/v1/contacts/lists/{list_id}", headers=headers))
    assert counts["opted_in"] == {"email": 0, "sms": 1}
    # only this artist: the other one's list is untouched
    assert await suppressions(other_id) == set()
    [their_member] = await members(client, other_headers, theirs)
    assert their_member["email_opt_in"] is True

    again = await client.post(url)
    assert again.status == 200
    assert await suppressions(artist_id) == {("email", "ana@example.com", "unsubscribe")}
    shown = await client.get(url)
    assert "You are unsubscribed" in await shown.text()


async def test_a_forged_or_stale_link_is_404_token(client: Client, settings: Settings) -> None:
    artist_id, _ = await artist_session(client)
    delivery = await sent_delivery(artist_id, channel="email", address="ana@example.com")
    token = unsubscribe_token(settings, delivery_id=delivery)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    stale = unsubscribe_token(settings, delivery_id=uuid.uuid4())
    for bad in (forged, stale, ""):
        for method in ("get", "post"):
            response = await getattr(client, method)(f"/v1/fans/unsubscribe?token={bad}")
            assert (await error_of(response, 404))["field"] == "token"
    missing = await client.post("/v1/fans/unsubscribe")
    assert (await error_of(missing, 404))["field"] == "token"
    assert await suppressions() == set()
