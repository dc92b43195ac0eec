"""Files sent in a conversation (SPEC §3.5): the signed upload, the stored name, the download link.

An attachment's key is `attachments/{conversation_id}/{message_id}-{name}`: the message's id
is chosen when the upload is signed, and the message sent with it (`messages.py`) takes it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.storage import Disposition, Storage
from umbrella.files import service as files_service
from umbrella.messaging.schemas import AttachmentLinkOut, AttachmentUploadIn, AttachmentUploadOut
from umbrella.messaging.service import find_pair
from umbrella.observability.metrics import Metrics
from umbrella.storage import service as storage_service
from umbrella.storage import uploads

ATTACHMENT_URL_EXPIRY = timedelta(hours=1)  # SPEC §3.5: downloads through a presigned GET
ATTACHMENT_KINDS: tuple[uploads.MediaKind, ...] = ("image", "audio", "video", "document")
# The name endings each accepted type may carry; a name without one gets the canonical one.
_EXTENSIONS: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"jpg", "jpeg", "jpe"}),
    "image/png": frozenset({"png"}),
    "image/heic": frozenset({"heic", "heif"}),
    "audio/mpeg": frozenset({"mp3"}),
    "audio/wav": frozenset({"wav", "wave"}),
    "audio/flac": frozenset({"flac"}),
    "video/mp4": frozenset({"mp4", "m4v"}),
    "video/quicktime": frozenset({"mov", "qt"}),
    "application/pdf": frozenset({"pdf"}),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"docx"}),
}
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
KEY_NAME_CHARS = 100  # of the file name inside the object key


def no_such_upload() -> NotFound:
    """The answer for an upload that is not the caller's, or not for this conversation."""
    return NotFound("No such upload for this conversation.", field="upload_id")


def message_id_of(key: str, conversation_id: UUID) -> UUID:
    """The message id `create_attachment_upload` put in the key."""
    prefix = f"attachments/{conversation_id}/"
    if not key.startswith(prefix):  # pragma: no cover - we signed this key ourselves
        raise no_such_upload()
    return UUID(key[len(prefix) : len(prefix) + 36])


def attachment_filename(filename: str, media: uploads.MediaType) -> str:
    """The name to store: no folders, an ending that fits the type (added if missing)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(char for char in name if char.isprintable())
    if not name or name in {".", ".."}:
        raise ValidationFailed("Give the file a name.", field="filename")
    stem, dot, ending = name.rpartition(".")
    if not dot or not stem:
        return f"{name}.{media.extension}"[-255:]
    if ending.lower() not in _EXTENSIONS[media.mime]:
        raise ValidationFailed(
            f"A file named .{ending} cannot be sent as {media.extension.upper()}: name it"
            f" .{media.extension}.",
            field="filename",
        )
    return name


def _key_name(filename: str) -> str:
    """The file name as it appears in the object key: plain ASCII, never a path."""
    safe = _UNSAFE_KEY_CHARS.sub("_", filename).strip("._") or "file"
    return safe[-KEY_NAME_CHARS:]


async def create_attachment_upload(
    *, storage: Storage, metrics: Metrics, caller: Caller, upload: AttachmentUploadIn
) -> AttachmentUploadOut:
    """Sign the upload of one file to a conversation the caller is in (SPEC §3.5 limits)."""
    pair = await find_pair(conversation_id=upload.conversation_id, user_id=caller.user_id)
    media = uploads.media_type(upload.content_type, kinds=ATTACHMENT_KINDS)
    filename = attachment_filename(upload.filename, media)
    artist_id = await caller.artist_id()  # venues have no quota: None
    # An oversized file is refused by `start` (413); anything else must fit the quota (D-026).
    if artist_id is not None and upload.size_bytes <= media.max_bytes:
        await storage_service.check_storage(artist_id=artist_id, size_bytes=upload.size_bytes)
    # The message's id is chosen now and travels in the key (SPEC §3.5 layout).
    message_id = uuid.uuid4()
    ticket = await uploads.start(
        storage=storage,
        metrics=metrics,
        user_id=caller.user_id,
        purpose="attachment",
        key=f"attachments/{pair.id}/{message_id}-{_key_name(filename)}",
        media=media,
        size_bytes=upload.size_bytes,
        filename=filename,
        conversation_id=pair.id,
    )
    return AttachmentUploadOut.of(ticket, message_id=message_id, filename=filename)


async def get_attachment_link(
    *,
    storage: Storage,
    caller: Caller,
    conversation_id: UUID,
    message_id: UUID,
    disposition: Disposition = "attachment",
) -> AttachmentLinkOut:
    """A one-hour link to a message's file that saves or shows it, for the two participants."""
    pair = await find_pair(conversation_id=conversation_id, user_id=caller.user_id)
    rows = await db.fetch(
        "SELECT attachment_key, attachment_name, attachment_size, attachment_mime FROM messages"
        " WHERE id = $1 AND conversation_id = $2 AND attachment_key IS NOT NULL",
        message_id,
        pair.id,
    )
    if not rows:
        raise NotFound("This message has no attachment.", field="message_id")
    row = rows[0]
    url = await files_service.download_link(
        storage=storage,
        key=row["attachment_key"],
        filename=row["attachment_name"],
        mime=row["attachment_mime"],
        expires=ATTACHMENT_URL_EXPIRY,
        disposition=disposition,
    )
    return AttachmentLinkOut(
        url=url,
        expires_at=datetime.now(UTC) + ATTACHMENT_URL_EXPIRY,
        filename=row["attachment_name"],
        size_bytes=row["attachment_size"],
        mime_type=row["attachment_mime"],
    )
