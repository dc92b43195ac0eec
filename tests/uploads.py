"""Uploading as a browser does: the presigned form's fields first, the file last."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

# The smallest bodies whose first bytes show each accepted type.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(500)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(2000)
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(2000)
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(2000)
PDF = b"%PDF-1.7\n" + bytes(1000)


async def post_form(url: str, fields: Mapping[str, str], body: bytes) -> tuple[int, str]:
    """POST a presigned upload form; returns the store's status and body."""
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", body, filename="upload.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as browser, browser.post(url, data=form) as response:
        return response.status, await response.text()
