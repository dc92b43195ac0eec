"""Avatar and banner: an image upload, sealed and checked, becomes the profile's image.

A confirm that already made the current image (a retry after a lost answer) answers it
again: an image's key carries its upload's id. docs/profiles.md describes the flow.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from uuid import UUID

from umbrella.artists import cache as profile_cache
from umbrella.artists.schemas import ImageOut
from umbrella.artists.service import (
    IMAGE_URL_EXPIRY,
    ImagePurpose,
    ProfileReader,
)
from umbrella.artists.tables import Artist
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import DependencyUnavailable, NotFound
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.storage import service as storage_service
from umbrella.storage import uploads
from umbrella.storage.uploads import UploadTicketOut

log = logging.getLogger(__name__)

_PREVIOUS_IMAGE_SQL: dict[ImagePurpose, str] = {
    "avatar": "SELECT avatar_url AS previous FROM artists WHERE id = $1 FOR UPDATE",
    "banner": "SELECT banner_url AS previous FROM artists WHERE id = $1 FOR UPDATE",
}


async def create_image_upload(
    *,
    caller: Caller,
    storage: Storage,
    metrics: Metrics,
    purpose: ImagePurpose,
    content_type: str,
    size_bytes: int,
) -> UploadTicketOut:
    """A presigned POST for a new avatar or banner (an image, at most 10 MB)."""
    artist_id = await caller.require_artist()
    media = uploads.media_type(content_type, kinds=("image",))
    # SPEC §3.5 names profiles/{artistId}/avatar.jpg; each upload gets its own key (with its
    # upload id) because the current image stays until the new one is in.
    upload_id = uuid.uuid4()
    ticket = await uploads.start(
        storage=storage,
        metrics=metrics,
        user_id=caller.user_id,
        purpose=purpose,
        key=_image_key(artist_id, purpose, upload_id, media.extension),
        media=media,
        size_bytes=size_bytes,
        upload_id=upload_id,
    )
    return UploadTicketOut.of(ticket)


def _image_key(artist_id: UUID, purpose: ImagePurpose, upload_id: UUID, extension: str) -> str:
    return f"profiles/{artist_id}/{_image_name(purpose, upload_id)}.{extension}"


def _image_name(purpose: ImagePurpose, upload_id: UUID) -> str:
    return f"{purpose}-{upload_id.hex}"


async def _image_made_by(artist_id: UUID, purpose: ImagePurpose, upload_id: UUID) -> str | None:
    """The current avatar or banner key if this upload made it (a confirm already answered)."""
    rows = await db.fetch(_PREVIOUS_IMAGE_SQL[purpose].removesuffix(" FOR UPDATE"), artist_id)
    current: str | None = rows[0]["previous"] if rows else None
    if current and current.rsplit("/", 1)[-1].split(".", 1)[0] == _image_name(purpose, upload_id):
        return current
    return None


async def update_profile_image(
    *,
    caller: Caller,
    purpose: ImagePurpose,
    upload_id: UUID,
    reader: ProfileReader,
) -> ImageOut:
    """Make an uploaded image the avatar or banner, once its bytes prove it is an image."""
    artist_id = await caller.require_artist()
    try:
        verified = await uploads.verify(
            storage=reader.storage,
            metrics=reader.metrics,
            user_id=caller.user_id,
            upload_id=upload_id,
            purpose=purpose,
        )
    except NotFound as missing:
        # A retry whose first answer was lost, or a double click: the same image again.
        made = await _image_made_by(artist_id, purpose, upload_id)
        if missing.field != "upload_id" or made is None:
            raise
        return await _image_out(reader.storage, made)
    column = Artist.avatar_url if purpose == "avatar" else Artist.banner_url
    async with DB.transaction():
        await uploads.consume(upload_id=upload_id)
        rows = await db.fetch(_PREVIOUS_IMAGE_SQL[purpose], artist_id)
        await Artist.update({column: verified.key, Artist.updated_at: datetime.now(UTC)}).where(
            Artist.id == artist_id
        )
        previous: str | None = rows[0]["previous"] if rows else None
        replaced = previous is not None and previous != verified.key
        if replaced:
            # Durable: the old image goes even if S3 is down right now.
            await storage_service.delete_objects_later(keys=[str(previous)])
        await profile_cache.forget_later([artist_id])
    await profile_cache.forget(reader.redis, [artist_id])
    if replaced:
        try:
            await reader.storage.delete(str(previous))  # at once; the job makes sure
        except DependencyUnavailable:
            log.warning("previous profile image left to the cleanup job: s3 unavailable")
    return await _image_out(reader.storage, verified.key)


async def _image_out(storage: Storage, key: str) -> ImageOut:
    url = await storage.presigned_get(key, expires=IMAGE_URL_EXPIRY)
    return ImageOut(url=url, expires_at=datetime.now(UTC) + IMAGE_URL_EXPIRY)
