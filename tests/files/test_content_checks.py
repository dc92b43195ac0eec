"""A file is what its bytes show, header and structure: lookalikes are refused and deleted."""

from __future__ import annotations

import pytest

from tests.files.flow import (
    DOCX_MIME,
    Client,
    artist_session,
    confirm,
    data_of,
    error_of,
    keys_under,
    sent,
    ticket_for,
    used_bytes,
)
from tests.uploads import DOCX, PNG, PNG_HEADER, zip_of
from umbrella.files.tables import File
from umbrella.storage.tables import PendingUpload

SVG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(document.domain)'/>"
LOOKALIKES = {
    # Any ZIP starts like a DOCX: this one carries a batch file and no Word document.
    "zip with a .bat": (zip_of("[Content_Types].xml", "run.bat"), DOCX_MIME, "DOCX"),
    "zip without parts": (zip_of("run.bat"), DOCX_MIME, "DOCX"),
    "png signature then svg": (PNG[:8] + SVG, "image/png", "PNG"),
    "png header then html": (
        PNG_HEADER + b"<html><script>alert(1)</script></html>",
        "image/png",
        "PNG",
    ),
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
async def test_a_lookalike_is_refused_and_deleted(client: Client, name: str) -> None:
    body, mime, shown = LOOKALIKES[name]
    artist_id, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, body, mime, filename="upload")
    await sent(ticket, body)

    error = await error_of(await confirm(client, headers, ticket["upload_id"]), 400)

    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "file")
    assert error["message"] == f"The file is not a valid {shown} file."
    assert await keys_under(client, "uploads/") == []
    assert await keys_under(client, f"files/{artist_id}/") == []
    assert await PendingUpload.count() == 0
    assert await File.count() == 0
    assert await used_bytes(artist_id) == 0


async def test_a_word_document_is_accepted(client: Client) -> None:
    _, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, DOCX, DOCX_MIME, filename="rider.docx")
    await sent(ticket, DOCX)
    created = await data_of(await confirm(client, headers, ticket["upload_id"]), 201)
    assert (created["type"], created["size_bytes"]) == ("document", len(DOCX))


async def test_api_answers_tell_browsers_not_to_sniff(client: Client) -> None:
    _, headers = await artist_session(client)
    for response in (
        await client.get("/v1/files", headers=headers),
        await client.get("/v1/files"),  # an error too
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
