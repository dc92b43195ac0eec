"""Objects never outlive their rows: expired uploads are swept, deleted objects go for sure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import make_artist
from tests.uploads import MP3, post_form
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.core.cron import CronContext
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.storage import service as storage_service
from umbrella.storage import uploads
from umbrella.storage.cron import uploads_cleanup
from umbrella.storage.tables import PendingUpload

Client = TestClient[web.Request, web.Application]


async def _uploaded(storage: Storage, user_id: uuid.UUID) -> uploads.UploadTicket:
    media = uploads.media_type("audio/mpeg", kinds=("audio",))
    ticket = await uploads.start(
        storage=storage,
        metrics=Metrics(),
        user_id=user_id,
        purpose="track",
        key=f"tracks/{uuid.uuid4()}/{uuid.uuid4()}.mp3",
        media=media,
        size_bytes=len(MP3),
    )
    status, text = await post_form(ticket.url, ticket.fields, MP3)
    assert status in (200, 201, 204), text
    return ticket


async def test_uploads_cleanup_removes_only_expired_uploads(client: Client) -> None:
    storage = client.app[keys.STORAGE]
    user_id, _ = await make_artist()
    expired = await _uploaded(storage, user_id)
    fresh = await _uploaded(storage, user_id)
    await PendingUpload.update(
        {
            PendingUpload.created_at: datetime.now(UTC) - timedelta(hours=1),
            PendingUpload.expires_at: datetime.now(UTC) - timedelta(minutes=1),
        }
    ).where(PendingUpload.id == expired.upload_id)

    settings = client.app[keys.SETTINGS]
    summary = await uploads_cleanup(CronContext(settings=settings, redis=None))

    assert summary == "removed 1 expired uploads, swept 0 stray upload objects"
    assert await storage.stat(expired.key) is None
    assert await storage.stat(fresh.key) is not None
    remaining = await PendingUpload.select(PendingUpload.id)
    assert [row["id"] for row in remaining] == [fresh.upload_id]
    assert await uploads_cleanup(CronContext(settings=settings, redis=None)) == (
        "removed 0 expired uploads, swept 0 stray upload objects"
    )


async def test_objects_queued_for_deletion_are_deleted_by_the_worker(client: Client) -> None:
    storage = client.app[keys.STORAGE]
    user_id, _ = await make_artist()
    ticket = await _uploaded(storage, user_id)
    async with DB.transaction():
        await storage_service.delete_objects_later(keys=[ticket.key, "tracks/never/existed.mp3"])
    assert await storage.stat(ticket.key) is not None

    async with in_process_worker(client.app[keys.SETTINGS], store=storage):
        await eventually(lambda: _gone(storage, ticket.key), what="the object was deleted")


async def test_a_rolled_back_deletion_deletes_nothing(client: Client) -> None:
    storage = client.app[keys.STORAGE]
    user_id, _ = await make_artist()
    ticket = await _uploaded(storage, user_id)
    try:
        async with DB.transaction():
            await storage_service.delete_objects_later(keys=[ticket.key])
            raise RuntimeError("the business write failed")
    except RuntimeError:
        pass
    rows = await DB.run_ddl(
        "SELECT count(*) AS n FROM pgqueuer WHERE entrypoint = 'delete_objects'"
    )
    assert rows[0]["n"] == 0
    assert await storage.stat(ticket.key) is not None


async def _gone(storage: Storage, key: str) -> bool:
    return await storage.stat(key) is None
