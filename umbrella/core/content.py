"""What an uploaded object really is, by its bytes: the declared type must show, and hold up.

Magic bytes come from `puremagic`; where they prove little, the structure is read too:
an image's header must decode to the end of its first chunk (PNG: the IHDR and its CRC;
JPEG: its first segment; HEIC and video: the `ftyp` box), and a DOCX must be a ZIP whose
directory holds `[Content_Types].xml` and `word/document.xml` (any ZIP starts like one).
"""

from __future__ import annotations

import struct
import zlib

import puremagic

from umbrella.core.storage import Storage

# Enough for any JPEG first segment (at most 65,535 bytes) and the marker after it.
HEAD_BYTES = 65_552
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_DOCX_PARTS = frozenset({b"[Content_Types].xml", b"word/document.xml"})
# puremagic's names for the formats we accept, by the canonical MIME type of each.
_MAGIC_NAMES: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"image/jpeg", ".jpg", ".jpeg", ".jfif", ".jpe"}),
    "image/png": frozenset({"image/png", ".png"}),
    "image/heic": frozenset({"image/heic", "image/heif", ".heic", ".heif"}),
    "audio/mpeg": frozenset({"audio/mpeg", ".mp3", ".mpga"}),
    "audio/wav": frozenset({"audio/wav", "audio/wave", "audio/x-wav", ".wav"}),
    "audio/flac": frozenset({"audio/flac", "audio/x-flac", ".flac"}),
    "video/mp4": frozenset({"video/mp4", ".mp4", ".m4v"}),
    "video/quicktime": frozenset({"video/quicktime", ".mov"}),
    "application/pdf": frozenset({"application/pdf", ".pdf"}),
    _DOCX: frozenset({_DOCX, ".docx"}),
}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
# JPEG markers that may follow SOI: APPn, DQT, DHT, SOFn, DRI and COM.
_JPEG_FIRST = {*range(0xE0, 0xF0), 0xDB, 0xC4, *range(0xC0, 0xC4), *range(0xC5, 0xC8), 0xDD, 0xFE}
_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_EOCD_SEARCH = 22 + 65_535  # the record and the longest archive comment


def _magic_names(head: bytes) -> set[str]:
    """The MIME types and extensions puremagic finds in `head`."""
    if not head:
        return set()
    try:
        found = puremagic.magic_string(head)
    except puremagic.PureError:
        return set()
    names: set[str] = set()
    for match in found:
        names.add(match.mime_type.lower())
        names.add("." + match.extension.lower().lstrip("."))
    return names


def _box_type_ok(kind: bytes) -> bool:
    """A four-character code as ISO media files use them: letters, digits, spaces."""
    return len(kind) == 4 and kind.replace(b" ", b"0").isalnum()


def _png_ok(head: bytes) -> bool:
    """Signature, a 13-byte IHDR with sane fields and the right CRC, then another chunk."""
    if len(head) < 8 + 25 + 8 or not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    length, kind = struct.unpack(">I4s", head[8:16])
    if length != 13 or kind != b"IHDR":
        return False
    data = head[16:29]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", data
    )
    allowed_depths = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
    if not (0 < width < 2**31 and 0 < height < 2**31) or depth not in allowed_depths.get(
        colour, set()
    ):
        return False
    if compression or filtering or interlace > 1:
        return False
    (crc,) = struct.unpack(">I", head[29:33])
    if zlib.crc32(b"IHDR" + data) != crc:
        return False
    # What follows the IHDR is a chunk too (a real PNG has IDAT and IEND), never markup.
    return head[37:41].isalpha()


def _jpeg_ok(head: bytes) -> bool:
    """SOI, a first segment of a known kind whose length ends right before another marker."""
    if len(head) < 6 or head[:3] != b"\xff\xd8\xff" or head[3] not in _JPEG_FIRST:
        return False
    (length,) = struct.unpack(">H", head[4:6])
    end = 4 + length
    if length < 2 or len(head) <= end or head[end] != 0xFF:
        return False
    # An APP0 segment is a JFIF header (or its extension).
    return head[3] != 0xE0 or head[6:11] in {b"JFIF\x00", b"JFXX\x00"}


def _ftyp_ok(head: bytes, mime: str) -> bool:
    """An ISO media file's first box is a whole `ftyp` box of the declared family."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    (size,) = struct.unpack(">I", head[:4])
    if size < 16 or (size - 16) % 4 or size > len(head):
        return False
    brands = [head[8:12], *(head[i : i + 4] for i in range(16, size, 4))]
    if not all(_box_type_ok(brand) for brand in brands):
        return False
    heic = head[8:12] in _HEIC_BRANDS
    quicktime = head[8:12] == b"qt  "
    if mime == "image/heic" and not heic:
        return False
    if mime == "video/quicktime" and not quicktime:
        return False
    if mime == "video/mp4" and (heic or quicktime):
        return False
    # The next box (if the file goes on) has a printable four-character type.
    return len(head) < size + 8 or _box_type_ok(head[size + 4 : size + 8])


def head_ok(head: bytes, mime: str) -> bool:
    """True when the first bytes of a file show the type `mime` and its header holds up."""
    if mime not in _MAGIC_NAMES or not _MAGIC_NAMES[mime] & _magic_names(head):
        return False
    if mime == "image/png":
        return _png_ok(head)
    if mime == "image/jpeg":
        return _jpeg_ok(head)
    if mime in {"image/heic", "video/mp4", "video/quicktime"}:
        return _ftyp_ok(head, mime)
    if mime == _DOCX:
        return head.startswith(b"PK\x03\x04")
    return True


def zip_names(directory: bytes, entries: int) -> set[bytes] | None:
    """The names in a ZIP central directory of `entries` records, or None if it is broken."""
    names: set[bytes] = set()
    at = 0
    for _ in range(entries):
        if directory[at : at + 4] != _CENTRAL or len(directory) < at + 46:
            return None
        name_length, extra_length, comment_length = struct.unpack(
            "<HHH", directory[at + 28 : at + 34]
        )
        names.add(directory[at + 46 : at + 46 + name_length])
        at += 46 + name_length + extra_length + comment_length
    return names if at <= len(directory) else None


async def _docx_ok(storage: Storage, key: str, size: int) -> bool:
    """The ZIP's central directory (read from S3, not the whole file) names a Word document."""
    tail_length = min(size, _EOCD_SEARCH)
    tail = await storage.read_range(key, offset=size - tail_length, length=tail_length)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) < at + 22:
        return False
    entries, directory_size, directory_offset = struct.unpack("<10xHII", tail[at : at + 20])
    if entries == 0 or directory_size == 0 or directory_offset + directory_size > size:
        return False
    directory = await storage.read_range(key, offset=directory_offset, length=directory_size)
    names = zip_names(directory, entries)
    return names is not None and names >= _DOCX_PARTS


async def object_ok(storage: Storage, key: str, *, mime: str, size: int) -> bool:
    """True when the object `key` of `size` bytes is a file of type `mime` by its content."""
    head = await storage.read_head(key, length=min(size, HEAD_BYTES) or 1)
    if not head_ok(head, mime):
        return False
    if mime == _DOCX:
        return await _docx_ok(storage, key, size)
    return True
