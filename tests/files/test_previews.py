"""Previews: `?disposition=inline` links show a file in the browser, for safe types only."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.files.flow import (
    DOCX,
    DOCX_MIME,
    MP4,
    Client,
    artist_session,
    data_of,
    error_of,
    storage_of,
    uploaded,
)
from tests.uploads import MP3, PDF, PNG
from umbrella.files.tables import FILE_CATEGORIES
from umbrella.storage.uploads import MEDIA_TYPES


async def served(url: str) -> tuple[int, dict[str, str], bytes]:
    """What a browser gets from a presigned link: status, headers and body."""
    async with aiohttp.ClientSession() as browser, browser.get(url) as got:
        return got.status, dict(got.headers), await got.read()


def without_link(file: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in file.items() if not key.startswith("download_")}


async def file_link(
    client: Client, headers: dict[str, str], file: dict[str, Any], query: str
) -> Any:
    return await data_of(await client.get(f"/v1/files/{file['id']}{query}", headers=headers))


@pytest.mark.parametrize(
    ("body", "mime", "filename", "saved_as"),
    [
        (PNG, "image/png", "Press shot", "Press shot.png"),
        (
            PDF,
            "application/pdf",
            "Rider 2026 \u2013 B\u00fchne.pdf",
            "Rider 2026 \u2013 B\u00fchne.pdf",
        ),
        (MP4, "video/mp4", "Live", "Live.mp4"),
        (MP3, "audio/mpeg", "Demo", "Demo.mp3"),
    ],
)
async def test_an_inline_link_shows_the_file_in_the_browser(
    client: Client, body: bytes, mime: str, filename: str, saved_as: str
) -> None:
    _, headers = await artist_session(client)
    file = await uploaded(client, headers, body, mime, filename=filename)

    found = await file_link(client, headers, file, "?disposition=inline")
    # the same file object, only its link differs
    assert without_link(found) == without_link(file)

    status, answer, got = await served(found["download_url"])
    assert status == 200
    assert got == body
    # The checked type, not what the upload carried. (The test store, SeaweedFS, sends no
    # X-Content-Type-Options, as AWS S3 does not: this type is what keeps the body inert.)
    assert answer["Content-Type"] == mime
    disposition = answer["Content-Disposition"]
    assert disposition.startswith("inline;")
    # the name still travels, for a "save as" from the viewer
    fallback = saved_as.encode("ascii", "replace").decode().replace("?", "_")
    assert f'filename="{fallback}"' in disposition
    assert "filename*=UTF-8''" in disposition


async def test_the_default_and_an_explicit_attachment_download(client: Client) -> None:
    _, headers = await artist_session(client)
    file = await uploaded(client, headers, PDF, "application/pdf", filename="Rider")
    for query in ("", "?disposition=attachment"):
        found = await file_link(client, headers, file, query)
        status, answer, got = await served(found["download_url"])
        assert (status, got) == (200, PDF), query
        assert answer["Content-Type"] == "application/pdf", query
        assert answer["Content-Disposition"].startswith('attachment; filename="Rider.pdf"'), query


async def test_a_type_a_browser_should_not_render_is_not_offered_inline(client: Client) -> None:
    _, headers = await artist_session(client)
    file = await uploaded(client, headers, DOCX, DOCX_MIME, filename="Bio")
    response = await client.get(f"/v1/files/{file['id']}?disposition=inline", headers=headers)
    error = await error_of(response, 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "disposition")
    assert error["message"] == (
        "A DOCX file cannot be shown in the browser: only images, audio, video and PDF can. "
        "Use disposition=attachment (the default) to download it."
    )
    # the download still works
    found = await file_link(client, headers, file, "?disposition=attachment")
    assert found["download_url"]


@pytest.mark.parametrize("value", ["preview", "INLINE", ""])
async def test_an_unknown_disposition_is_refused(client: Client, value: str) -> None:
    _, headers = await artist_session(client)
    file = await uploaded(client, headers, PNG, "image/png")
    response = await client.get(f"/v1/files/{file['id']}?disposition={value}", headers=headers)
    error = await error_of(response, 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "disposition")
    assert error["message"] == "Must be 'inline' or 'attachment'."


async def test_someone_elses_file_is_not_found_inline_either(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    theirs = await uploaded(client, other_headers, PNG, "image/png")
    mine_docx = await uploaded(client, other_headers, DOCX, DOCX_MIME, filename="Bio")
    for file in (theirs, mine_docx):
        # 404 before any type check: a refusal must not reveal what someone else's file is
        response = await client.get(f"/v1/files/{file['id']}?disposition=inline", headers=headers)
        assert (await error_of(response, 404))["field"] == "file_id"


async def test_the_openapi_document_shows_the_parameter_and_the_fixed_values(
    client: Client,
) -> None:
    response = await client.get("/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    parameters = document["paths"]["/v1/files/{file_id}"]["get"]["parameters"]
    (disposition,) = [p for p in parameters if p["name"] == "disposition"]
    assert (disposition["in"], disposition["required"]) == ("query", False)
    assert sorted(disposition["schema"]["enum"]) == ["attachment", "inline"]
    assert disposition["schema"]["default"] == "attachment"
    fields = document["components"]["schemas"]["FileDetailOut"]["properties"]
    # a client can tell from the type alone whether to offer a preview
    assert sorted(fields["mime_type"]["enum"]) == sorted(MEDIA_TYPES)
    assert sorted(fields["type"]["enum"]) == ["audio", "document", "image", "video"]
    assert sorted(fields["category"]["enum"]) == sorted(FILE_CATEGORIES)


@pytest.mark.parametrize(
    "mime", ["image/svg+xml", "text/html", "application/xml", "text/plain", DOCX_MIME, None]
)
async def test_storage_never_signs_an_inline_link_for_an_active_type(
    client: Client, mime: str | None
) -> None:
    # The belt to the service's check: a caller that forgets it gets an error, not a link.
    with pytest.raises(ValueError, match="inline"):
        await storage_of(client).presigned_get(
            "files/a/b.svg", download_name="b.svg", content_type=mime, disposition="inline"
        )
