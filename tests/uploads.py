"""Uploading as a browser does: the presigned form's fields first, the file last."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Mapping

import aiohttp


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zip_of(*names: str) -> bytes:
    """A ZIP archive holding `names` (a Word document holds the two of WORD_PARTS)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in names:
            bundle.writestr(name, "<w/>" if name.endswith(".xml") else "@echo off\r\n")
    return archive.getvalue()


# Small bodies whose bytes show each accepted type and whose headers hold up.
PNG_HEADER = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
PNG = (
    PNG_HEADER
    + png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff"))
    + png_chunk(b"tEXt", b"Comment\x00" + bytes(range(32, 127)) * 8)
    + png_chunk(b"IEND", b"")
)
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xfe\x00\x10a JPEG comment"
    + bytes(480)
    + b"\xff\xd9"
)
WORD_PARTS = ("[Content_Types].xml", "_rels/.rels", "word/document.xml")
DOCX = zip_of(*WORD_PARTS)
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x02\x58free" + bytes(592)
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00\x00\x02\x58wide" + bytes(592)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x02\x58meta" + bytes(592)
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
