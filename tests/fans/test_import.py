"""Imports: CSV or JSON into a list, checked row by row, merged, consent recorded, limits kept."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.fans.people import (
    CSV_HEADER,
    Client,
    artist_session,
    data_of,
    error_of,
    import_csv,
    make_list,
    members,
)
from umbrella.fans import suppressions
from umbrella.fans.tables import ContactListMember

MB = 1024 * 1024


async def test_a_csv_is_imported_row_by_row_with_a_report(client: Client) -> None:
    _, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    csv_text = (
        "\ufeffEmail, Phone ,name,email_opt_in,sms_opt_in,timezone,city\n"
        "Ana@Example.COM,(415) 555-0101,Ana,yes,yes,America/Los_Angeles,Oakland\n"
        "ben@example.com,not a phone,Ben,yes,no,,\n"
        "\n"
        "cy@example,,,,,,\n"
        ",+44 20 7946 0958,Dee,,1,Europe/London,London\n"
        "eve@example.com,,Eve,maybe,,,\n"
        "fay@example.com,,Fay,,,Mars/Olympus,\n"
        ",,Nobody,,,,\n"
        "gus@example.com,,Gus,,yes,,\n"
        # a second row for Ana (by email) and one for Dee (by phone): merged
        "ana@example.com,,Ana B,no,no,,\n"
        "dee@example.com,+442079460958,,true,,,\n"
    )
    response = await import_csv(
        client,
        {**headers, "X-Forwarded-For": "203.0.113.9"},
        csv_text,
        list_id=list_id,
    )
    report = await data_of(response)
    assert report["list_id"] == list_id
    assert report["list_created"] is False
    assert (report["rows"], report["imported"], report["updated"], report["merged"]) == (
        10,
        2,
        0,
        2,
    )
    assert report["rejected_count"] == 6
    assert report["more_rejected"] == 0
    # rows are the file's lines (the header is line 1, blank lines count)
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [
        (3, "phone"),
        (5, "email"),
        (7, "email_opt_in"),
        (8, "timezone"),
        (9, "email"),
        (10, "sms_opt_in"),
    ]
    reasons = {r["row"]: r["reason"] for r in report["rejected"]}
    assert "phone number" in reasons[3]
    assert reasons[9] == "a contact needs an email or a phone"

    imported = {m["name"]: m for m in await members(client, headers, list_id)}
    assert set(imported) == {"Ana", "Dee"}
    ana, dee = imported["Ana"], imported["Dee"]
    assert (ana["email"], ana["phone"]) == ("ana@example.com", "+14155550101")
    assert (ana["email_opt_in"], ana["sms_opt_in"]) == (True, True)  # OR-ed with row 12
    assert (ana["timezone"], ana["city"]) == ("America/Los_Angeles", "Oakland")
    assert (dee["email"], dee["phone"], dee["email_opt_in"]) == (
        "dee@example.com",
        "+442079460958",
        True,
    )
    assert ana["consent_source"] == "import"
    assert ana["email_consent_at"]
    assert ana["sms_consent_at"]
    # no trusted proxy: the peer's address, not the forgeable header
    assert ana["consent_ip"] == "127.0.0.1"


async def test_consent_is_kept_and_suppression_survives_a_reimport(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    report = await data_of(
        await import_csv(
            client, headers, CSV_HEADER + "ana@example.com,,Ana,yes,,,\n", list_name="Tour 2026"
        )
    )
    assert report["list_created"] is True
    list_id = report["list_id"]
    [before] = await members(client, headers, list_id)
    await suppressions.suppress(
        artist_id=artist_id, channel="email", address="ana@example.com", reason="unsubscribe"
    )
    # the same list by name, again: nothing new, Ana's phone added, her consent kept
    again = await data_of(
        await import_csv(
            client,
            headers,
            CSV_HEADER + "ANA@example.com,+14155550101,Ana Lima,no,yes,,Austin\n"
            "bo@example.com,,Bo,no,no,,\n",
            list_name="Tour 2026",
        )
    )
    assert (again["list_id"], again["list_created"]) == (list_id, False)
    assert (again["imported"], again["updated"], again["suppressed"]) == (1, 1, 1)
    after = {m["email"]: m for m in await members(client, headers, list_id)}
    ana = after["ana@example.com"]
    assert ana["id"] == before["id"]
    assert (ana["name"], ana["phone"], ana["city"]) == ("Ana Lima", "+14155550101", "Austin")
    assert ana["email_opt_in"] is True  # an import never withdraws consent
    assert ana["email_consent_at"] == before["email_consent_at"]
    assert ana["sms_opt_in"] is True
    assert ana["sms_consent_at"] is not None
    assert ana["email_suppressed"] is True  # an import never clears a suppression
    assert after["bo@example.com"]["consent_source"] is None  # no consent given, none recorded
    counts = await data_of(await client.get(f"/v1/contacts/lists/{list_id}", headers=headers))
    assert counts["opted_in"] == {"email": 0, "sms": 1}


async def test_addresses_already_on_the_list_are_never_replaced(client: Client) -> None:
    _, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    await data_of(
        await import_csv(
            client,
            headers,
            CSV_HEADER + "ana@example.com,+14155550101,Ana,yes,yes,,\n,+14155550102,Ben,,yes,,\n",
            list_id=list_id,
        )
    )
    # Ana's email with Ben's phone; a new email sharing Ana's phone (a family phone)
    report = await data_of(
        await import_csv(
            client,
            headers,
            CSV_HEADER + "ana@example.com,+14155550102,,yes,yes,,\n"
            "kid@example.com,+14155550101,Kid,yes,,,\n",
            list_id=list_id,
        )
    )
    assert (report["imported"], report["updated"]) == (1, 2)
    found = {(m["email"], m["phone"], m["name"]) for m in await members(client, headers, list_id)}
    assert found == {
        ("ana@example.com", "+14155550101", "Ana"),
        (None, "+14155550102", "Ben"),
        ("kid@example.com", None, "Kid"),
    }


async def test_header_problems_name_the_header(client: Client) -> None:
    _, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    cases = [
        ("email,phone,birthday\nx@y.co,,\n", "header", "birthday"),
        ("name,city\nAna,Austin\n", "header", "email or a phone"),
        ("email,email\na@b.co,c@d.co\n", "header", "twice"),
        ("", "file", "empty"),
        ("email,phone\n", "file", "no contacts"),
    ]
    for text, field, words in cases:
        error = await error_of(await import_csv(client, headers, text, list_id=list_id), 400)
        assert (error["field"], error["code"]) == (field, "VALIDATION_ERROR"), text
        assert words in error["message"], error
    latin1 = await client.post(
        "/v1/contacts/import",
        data="email\nzoë@example.com\n".encode("latin-1"),
        params={"list_id": list_id},
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert (await error_of(latin1, 400))["field"] == "file"
    # where it goes: exactly one of list_id and list_name, and only the artist's own list
    _, other_headers = await artist_session(client, "Other")
    ok_csv = CSV_HEADER + "a@example.com,,,,,,\n"
    neither = await import_csv(client, headers, ok_csv)
    assert (await error_of(neither, 400))["field"] == "list_id"
    theirs = await import_csv(client, other_headers, ok_csv, list_id=list_id)
    assert (await error_of(theirs, 404))["field"] == "list_id"
    wrong_type = await client.post(
        "/v1/contacts/import", data=b"x", headers={**headers, "Content-Type": "text/plain"}
    )
    assert (await error_of(wrong_type, 400))["field"] == "body"
    bad_region = await import_csv(client, headers, ok_csv, list_id=list_id, region="ZZ")
    assert (await error_of(bad_region, 400))["field"] == "region"
    assert await members(client, headers, list_id) == []


async def test_a_50_mb_file_is_refused_with_413(client: Client) -> None:
    _, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    row = b"someone@example.com,+14155550101,Some One,yes,yes,America/New_York,New York\n"
    big = CSV_HEADER.encode() + row * (50 * MB // len(row))
    try:
        response = await import_csv(client, headers, big.decode(), list_id=list_id)
    except aiohttp.ClientOSError:  # pragma: no cover - the server may close before it all went
        pass
    else:
        error = await error_of(response, 413)
        assert error["code"] == "PAYLOAD_TOO_LARGE"

    # without a declared length (chunked) it is cut off while being read
    async def chunks() -> Any:
        for start in range(0, 25 * MB, MB):
            yield big[start : start + MB]

    chunked = await client.post(
        "/v1/contacts/import",
        data=chunks(),
        params={"list_id": list_id},
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert (await error_of(chunked, 413))["code"] == "PAYLOAD_TOO_LARGE"
    # 5 MB is over the API's usual 1 MB limit and fine here
    medium = CSV_HEADER.encode() + b"".join(
        f"fan{n}@example.com,,Fan {n},yes,,,New York City\n".encode() for n in range(130_000)
    )
    assert len(medium) > 5 * MB
    too_many = await import_csv(client, headers, medium.decode(), list_id=list_id)
    error = await error_of(too_many, 400)
    assert error["field"] == "file"
    assert "100,000" in error["message"]
    assert await ContactListMember.count() == 0


async def test_a_multipart_upload_and_a_json_import(client: Client) -> None:
    _, headers = await artist_session(client)
    form = aiohttp.FormData()
    form.add_field("list_name", "From the web")
    form.add_field(
        "file",
        (CSV_HEADER + "ana@example.com,020 7946 0958,Ana,yes,yes,,\n").encode(),
        filename="fans.csv",
        content_type="text/csv",
    )
    form.add_field("region", "GB")
    report = await data_of(await client.post("/v1/contacts/import", data=form, headers=headers))
    assert (report["imported"], report["list_created"]) == (1, True)
    [ana] = await members(client, headers, report["list_id"])
    assert ana["phone"] == "+442079460958"
    no_file = aiohttp.FormData(default_to_multipart=True)
    no_file.add_field("list_name", "x")
    missing = await client.post("/v1/contacts/import", data=no_file, headers=headers)
    assert (await error_of(missing, 400))["field"] == "file"

    body: dict[str, Any] = {
        "list_id": report["list_id"],
        "contacts": [
            {"email": "bo@example.com", "email_opt_in": True, "name": "Bo"},
            {"phone": "+1 415 555 0109", "sms_opt_in": "yes"},
            {"phone": "12", "sms_opt_in": True},
        ],
    }
    json_report = await data_of(
        await client.post("/v1/contacts/import", json=body, headers=headers)
    )
    assert (json_report["imported"], json_report["rejected_count"]) == (2, 1)
    assert json_report["rejected"][0]["row"] == 3
    assert json_report["rejected"][0]["field"] == "phone"
    cases: list[tuple[Any, str]] = [
        (
            {"list_id": report["list_id"], "contacts": [{"email": "a@b.co", "age": 3}]},
            "contacts.0.age",
        ),
        ({"list_id": report["list_id"], "contacts": "a@b.co"}, "contacts"),
        ({"list_id": report["list_id"], "contacts": []}, "contacts"),
        ({"list_id": report["list_id"], "contacts": [{}] * 100_001}, "contacts"),
        ({"list_id": "nope", "contacts": [{"email": "a@b.co"}]}, "list_id"),
        ({"contacts": [{"email": "a@b.co"}], "extra": 1}, "extra"),
        ([1, 2], "body"),
    ]
    for bad, field in cases:
        refused = await client.post("/v1/contacts/import", json=bad, headers=headers)
        assert (await error_of(refused, 400))["field"] == field, field


async def test_only_the_first_100_rejections_are_listed(client: Client) -> None:
    _, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    rows = "".join(f"bad{n}@,,,,,,\n" for n in range(150))
    report = await data_of(
        await import_csv(
            client, headers, CSV_HEADER + rows + "ok@example.com,,,,,,\n", list_id=list_id
        )
    )
    assert (report["rejected_count"], len(report["rejected"]), report["more_rejected"]) == (
        150,
        100,
        50,
    )
    assert report["imported"] == 1
