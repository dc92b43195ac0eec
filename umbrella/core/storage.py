"""S3 object storage (`miniopy-async`): MinIO in Kubernetes, SeaweedFS in development and tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from miniopy_async.api import Minio

from umbrella.config import Settings

log = logging.getLogger(__name__)


@dataclass
class Storage:
    """The S3 client and the bucket every object of Umbrella lives in."""

    client: Minio
    bucket: str

    async def ping(self) -> None:
        """Raise unless the bucket is reachable."""
        if not await self.client.bucket_exists(self.bucket):
            raise RuntimeError(f"bucket {self.bucket!r} does not exist")


def build_client(settings: Settings, session: aiohttp.ClientSession) -> Minio:
    endpoint = urlsplit(settings.s3_endpoint)
    return Minio(
        endpoint.netloc,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=endpoint.scheme == "https",
        region=settings.s3_region,
        session=session,
    )


@asynccontextmanager
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    """Connect, make sure the bucket exists (creating it when allowed), close on exit."""
    timeout = aiohttp.ClientTimeout(
        total=None, connect=settings.s3_timeout_seconds, sock_read=settings.s3_timeout_seconds
    )
    # No client-side retries: a caller that sees S3 down answers 503 at once.
    session = aiohttp.ClientSession(timeout=timeout)
    try:
        store = Storage(client=build_client(settings, session), bucket=settings.s3_bucket)
        if not await store.client.bucket_exists(settings.s3_bucket):
            if not settings.s3_create_bucket:
                raise RuntimeError(
                    f"bucket {settings.s3_bucket!r} does not exist at {settings.s3_endpoint} "
                    "(set UMBRELLA_S3_CREATE_BUCKET=true to create it)"
                )
            await store.client.make_bucket(settings.s3_bucket, location=settings.s3_region)
            log.info("created bucket", extra={"bucket": settings.s3_bucket})
        log.info("s3 connected", extra={"endpoint": settings.s3_endpoint})
        yield store
    finally:
        await session.close()
