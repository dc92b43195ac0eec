"""S3 object storage (`miniopy-async`): MinIO in Kubernetes, SeaweedFS in development and tests."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
from miniopy_async.api import Minio
from miniopy_async.commonconfig import REPLACE, CopySource
from miniopy_async.datatypes import PostPolicy
from miniopy_async.deleteobjects import DeleteObject
from miniopy_async.error import InvalidResponseError, S3Error, ServerError

from umbrella.config import Settings
from umbrella.core.background import retry_with_backoff, running_beside
from umbrella.core.errors import DependencyUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "File storage is temporarily unavailable. Try again shortly."
# The multi-object delete API takes at most 1000 keys per request.
MAX_DELETE_BATCH = 1000
# S3 caps a key at 1024 bytes of UTF-8.
MAX_KEY_BYTES = 1024
# How often a process that started while S3 was away checks the bucket again.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 15.0
# What a store answers when the bucket is ours already (a race between pods creating it).
BUCKET_ALREADY_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})

# How a presigned link asks the browser to treat the file: show it, or save it.
Disposition = Literal["inline", "attachment"]
# The only types a link may show inline: raster images, audio, video and PDF. Served with
# one of these types a body is never sniffed into HTML or script (the WHATWG sniffing rules
# move an image, audio or video type only to another of its kind, and a PDF opens in the
# browser's own viewer), so inline is safe for them even where the store cannot send
# `X-Content-Type-Options: nosniff`. Never SVG, HTML, XML or text: those run or get sniffed.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/heic",
        "audio/mpeg",
        "audio/wav",
        "audio/flac",
        "video/mp4",
        "video/quicktime",
        "application/pdf",
    }
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class PresignedPost:
    """What a browser needs to upload one object: POST `fields` then the file (last) to `url`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about one object."""

    key: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime | None


class ObjectNotFound(LookupError):
    """The object asked for does not exist."""


class BucketMissing(RuntimeError):
    """The bucket does not exist and we may not create it: a configuration error."""


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise ValueError if it is not a safe object key."""
    # Keys are built by our code, never taken raw from a client: a bad one is a bug.
    if not key:
        raise ValueError("object key must not be empty")
    if key.startswith("/"):
        raise ValueError(f"object key must not start with '/': {key!r}")
    if ".." in key.split("/"):
        raise ValueError(f"object key must not contain a '..' segment: {key!r}")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"object key is longer than {MAX_KEY_BYTES} bytes")
    return key


def _is_server_failure(error: Exception) -> bool:
    """True when S3 answered but failed on its side (5xx), as opposed to refusing our request."""
    if isinstance(error, S3Error):
        return error.response.status >= 500
    if isinstance(error, ServerError):
        return error.status_code >= 500
    if isinstance(error, InvalidResponseError):
        # miniopy keeps the status of a non-XML answer (a proxy's 502 page) only here.
        status: int = error._code
        return status >= 500
    return False


def _s3_call(
    method: Callable[_P, Awaitable[_R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Turn S3 being unreachable, timing out or answering 5xx into DependencyUnavailable("s3")."""

    @functools.wraps(method)
    async def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
            log.warning("s3 unreachable", extra={"error": type(error).__name__})
            raise DependencyUnavailable("s3", UNAVAILABLE_MESSAGE) from error
        except (S3Error, ServerError, InvalidResponseError) as error:
            # A missing bucket is an outage too (a store that came back empty, not yet
            # given its bucket again); other 4xx are our mistakes (key, credentials, policy).
            missing_bucket = isinstance(error, S3Error) and error.code == "NoSuchBucket"
            if not (missing_bucket or _is_server_failure(error)):
                raise
            log.warning("s3 failed", extra={"error": type(error).__name__})
            raise DependencyUnavailable("s3", UNAVAILABLE_MESSAGE) from error

    return call


def _positive(expires: timedelta) -> timedelta:
    if expires.total_seconds() < 1:
        raise ValueError("expiry must be at least one second")
    return expires


def content_disposition(download_name: str, disposition: Disposition = "attachment") -> str:
    """A Content-Disposition that survives any file name (RFC 6266 / 5987).

    An `inline` one keeps the name too: a browser's viewer saves the file under it.
    """
    fallback = "".join(
        char if 0x20 <= ord(char) < 0x7F and char not in '"\\' else "_" for char in download_name
    )
    return (
        f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(download_name, safe='')}"
    )


@dataclass
class Storage:
    """The S3 client and the bucket every object of Umbrella lives in."""

    client: Minio
    bucket: str
    # The endpoint presigned URLs are addressed to: the one the browser can reach.
    public_endpoint: str
    # Create the bucket when it is missing (development, tests), else a missing one is fatal.
    create_bucket: bool = False
    region: str | None = None
    # Whether the bucket was found (or made) yet: "s3 connected" is logged when it is.
    bucket_ready: bool = False

    @property
    def upload_url(self) -> str:
        """Where a browser POSTs a presigned form (path-style, like every presigned URL here)."""
        return f"{self.public_endpoint}/{self.bucket}"

    @_s3_call
    async def ping(self) -> None:
        """Make sure the bucket is there, creating it when allowed; BucketMissing otherwise."""
        if not await self.client.bucket_exists(self.bucket):
            if not self.create_bucket:
                raise BucketMissing(
                    f"bucket {self.bucket!r} does not exist "
                    "(set UMBRELLA_S3_CREATE_BUCKET=true to create it)"
                )
            try:
                await self.client.make_bucket(self.bucket, location=self.region)
            except S3Error as error:
                if error.code not in BUCKET_ALREADY_THERE:
                    raise
            else:
                log.info("created bucket", extra={"bucket": self.bucket})
        if not self.bucket_ready:
            self.bucket_ready = True
            log.info("s3 connected", extra={"bucket": self.bucket})

    @_s3_call
    async def presigned_post(
        self,
        *,
        key: str,
        content_type: str,
        max_bytes: int,
        min_bytes: int = 1,
        expires: timedelta = timedelta(minutes=15),
    ) -> PresignedPost:
        """Sign a browser upload of exactly `key` and `content_type`, sized min..max bytes."""
        validate_key(key)
        if not content_type:
            raise ValueError("content_type must not be empty")
        expires_at = datetime.now(UTC) + _positive(expires)
        # The store enforces these conditions itself, so an oversize body or another type
        # is refused before a byte of it counts against anyone's quota.
        policy = PostPolicy(self.bucket, expires_at)
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(min_bytes, max_bytes)
        signed: dict[str, str] = await self.client.presigned_post_policy(policy)
        fields = {"key": key, "Content-Type": content_type, **signed}
        return PresignedPost(url=self.upload_url, fields=fields, expires_at=expires_at)

    @_s3_call
    async def presigned_get(
        self,
        key: str,
        *,
        expires: timedelta = timedelta(hours=1),
        download_name: str | None = None,
        content_type: str | None = None,
        disposition: Disposition = "attachment",
    ) -> str:
        """A URL that downloads `key` until it expires, saved as `download_name` if given.

        `content_type` is the type the answer carries, whatever the object was stored with.
        S3 lets a presigned URL set only a few answer headers; `X-Content-Type-Options` is
        not one of them. So an `attachment` disposition keeps a browser from rendering a
        download, and `inline` (shown in the browser) takes a `content_type` of INLINE_TYPES.
        """
        validate_key(key)
        if disposition == "inline" and content_type not in INLINE_TYPES:
            raise ValueError(f"{content_type!r} must not be served inline")
        response_headers: dict[str, str | list[str] | tuple[str]] = {}
        if download_name:
            response_headers["response-content-disposition"] = content_disposition(
                download_name, disposition
            )
        elif disposition == "inline":
            response_headers["response-content-disposition"] = "inline"
        if content_type:
            response_headers["response-content-type"] = content_type
        return await self.client.presigned_get_object(
            self.bucket, key, expires=_positive(expires), response_headers=response_headers
        )

    @_s3_call
    async def presigned_put(self, key: str, *, expires: timedelta = timedelta(minutes=15)) -> str:
        """A URL that uploads `key` with PUT until it expires (no size or type limit: use POST)."""
        validate_key(key)
        return await self.client.presigned_put_object(self.bucket, key, expires=_positive(expires))

    @_s3_call
    async def stat(self, key: str) -> ObjectInfo | None:
        """Size, type, etag and modification time of `key`, or None when it does not exist."""
        validate_key(key)
        try:
            found = await self.client.stat_object(self.bucket, key)
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
                return None
            raise
        return ObjectInfo(
            key=key,
            size=found.size or 0,
            content_type=found.content_type or "application/octet-stream",
            etag=found.etag or "",
            last_modified=found.last_modified,
        )

    async def read_head(self, key: str, *, length: int = 512) -> bytes:
        """The first `length` bytes of `key` (fewer if it is shorter), to sniff its real type."""
        return await self.read_range(key, offset=0, length=length)

    @_s3_call
    async def read_range(self, key: str, *, offset: int, length: int) -> bytes:
        """`length` bytes of `key` from `offset` (fewer past its end)."""
        validate_key(key)
        if length < 1:
            raise ValueError("length must be at least 1")
        if offset < 0:
            raise ValueError("offset must not be negative")
        try:
            response = await self.client.get_object(self.bucket, key, offset=offset, length=length)
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject"}:
                raise ObjectNotFound(key) from None
            if error.code == "InvalidRange":  # an empty object has no byte 0
                return b""
            raise
        try:
            head = bytearray()
            # Read no more than asked even if a store ignored the Range header.
            while len(head) < length:
                chunk = await response.content.read(length - len(head))
                if not chunk:
                    break
                head += chunk
            return bytes(head)
        finally:
            response.release()

    @_s3_call
    async def copy(self, source: str, target: str, *, content_type: str) -> None:
        """Copy `source` to `target` inside the bucket (server-side), typed `content_type`."""
        validate_key(source)
        validate_key(target)
        try:
            await self.client.copy_object(
                self.bucket,
                target,
                CopySource(self.bucket, source),
                # The stored type is ours, never what the upload carried.
                metadata={"Content-Type": content_type},
                metadata_directive=REPLACE,
            )
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject"}:
                raise ObjectNotFound(source) from None
            raise

    @_s3_call
    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` (which ends with '/'): key, size and modification time."""
        validate_key(prefix)
        if not prefix.endswith("/"):
            raise ValueError(f"prefix must end with '/': {prefix!r}")
        found: list[ObjectInfo] = []
        async for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if item.object_name is None or item.is_dir:
                continue
            found.append(
                ObjectInfo(
                    key=item.object_name,
                    size=item.size or 0,
                    content_type=item.content_type or "application/octet-stream",
                    etag=item.etag or "",
                    last_modified=item.last_modified,
                )
            )
        return found

    @_s3_call
    async def delete(self, key: str) -> None:
        """Delete `key`; deleting an object that does not exist is not an error."""
        validate_key(key)
        try:
            await self.client.remove_object(self.bucket, key)
        except S3Error as error:
            if error.code not in {"NoSuchKey", "NoSuchObject"}:
                raise

    @_s3_call
    async def delete_prefix(self, prefix: str, *, batch_size: int = MAX_DELETE_BATCH) -> int:
        """Delete every object whose key starts with `prefix`; return how many were deleted."""
        validate_key(prefix)
        # Without the trailing slash "files/a" would also take "files/ab/…".
        if not prefix.endswith("/"):
            raise ValueError(f"prefix must end with '/': {prefix!r}")
        if not 1 <= batch_size <= MAX_DELETE_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_DELETE_BATCH}")
        deleted = 0
        batch: list[str] = []
        async for found in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if found.object_name is None or found.is_dir:
                continue
            batch.append(found.object_name)
            if len(batch) == batch_size:
                deleted += await self._delete_batch(batch)
                batch = []
        if batch:
            deleted += await self._delete_batch(batch)
        return deleted

    async def _delete_batch(self, keys: list[str]) -> int:
        """Delete up to 1000 keys in one multi-object delete request."""
        errors = [
            error
            async for error in self.client.remove_objects(
                self.bucket, [DeleteObject(key) for key in keys]
            )
            if error.code not in {"NoSuchKey", "NoSuchObject"}
        ]
        if errors:
            # Callers (account deletion, cleanup) are jobs: a retry re-lists what is left.
            raise RuntimeError(
                f"could not delete {len(errors)} of {len(keys)} objects: {errors[0].code}"
            )
        return len(keys)


def build_client(
    settings: Settings, session: aiohttp.ClientSession, *, public_endpoint: str | None = None
) -> Minio:
    """A miniopy client on our session; presigned URLs are addressed to `public_endpoint`."""
    endpoint = urlsplit(settings.s3_endpoint)
    return Minio(
        endpoint.netloc,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=endpoint.scheme == "https",
        # A fixed region: presigning then needs no GetBucketLocation round trip.
        region=settings.s3_region,
        session=session,
        # The signature covers the host, so a URL for the browser is signed for its host.
        server_url=public_endpoint
        if public_endpoint and public_endpoint != settings.s3_endpoint
        else None,
    )


@asynccontextmanager
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    """Connect, make sure the bucket exists (creating it when allowed), close on exit.

    S3 unreachable at start is not fatal: the calls that need it answer 503 meanwhile, and
    the bucket is checked (or created) as soon as the store answers. A missing bucket we may
    not create is a configuration error, and fatal.
    """
    timeout = aiohttp.ClientTimeout(
        total=None, connect=settings.s3_timeout_seconds, sock_read=settings.s3_timeout_seconds
    )
    # No client-side retries: a caller that sees S3 down answers 503 at once.
    session = aiohttp.ClientSession(timeout=timeout)
    # Presigned links are signed for the host browsers reach (the Host is part of the signature).
    public_endpoint = settings.s3_public_endpoint or settings.s3_endpoint
    try:
        store = Storage(
            client=build_client(settings, session, public_endpoint=public_endpoint),
            bucket=settings.s3_bucket,
            public_endpoint=public_endpoint,
            create_bucket=settings.s3_create_bucket,
            region=settings.s3_region,
        )
        async with AsyncExitStack() as stack:
            try:
                await store.ping()
            except DependencyUnavailable as error:
                log.warning(
                    "s3 unreachable at start; continuing without it",
                    extra={
                        "endpoint": settings.s3_endpoint,
                        "error": type(error.__cause__ or error).__name__,
                    },
                )
                await stack.enter_async_context(
                    running_beside(
                        retry_with_backoff(
                            lambda: _bucket_settled(store),
                            first_seconds=RETRY_FIRST_SECONDS,
                            max_seconds=RETRY_MAX_SECONDS,
                        )
                    )
                )
            yield store
    finally:
        await session.close()


async def _bucket_settled(store: Storage) -> bool:
    """Check the bucket once: True when it is ready (a ping may have got there first) or
    unusable for good (logged); False while the store does not answer."""
    if store.bucket_ready:
        return True
    try:
        await store.ping()
    except DependencyUnavailable:
        return False
    except Exception as error:  # the store answered, but no: nothing to retry
        log.error("s3 bucket unusable", extra={"error": type(error).__name__, "detail": str(error)})
    return True
