"""Object storage against a real S3 server (SeaweedFS), with aiohttp acting as the browser.

SeaweedFS (4.48) enforces every POST policy condition we rely on, exactly like MinIO:
content-length-range (EntityTooLarge / EntityTooSmall), exact `key` and `Content-Type`
conditions, the policy's expiry and its signature.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from miniopy_async.error import S3Error

from tests.conftest import Servers, make_settings
from umbrella.config import Settings
from umbrella.core import storage
from umbrella.core.errors import DependencyUnavailable
from umbrella.core.storage import ObjectNotFound, PresignedPost, Storage
from umbrella.devstack import DevStack, free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def s3_settings(servers: Servers) -> Settings:
    """Settings with a fresh bucket of this test's own (no database needed)."""
    return make_settings(servers)


@pytest.fixture
async def store(s3_settings: Settings) -> AsyncIterator[Storage]:
    async with storage.storage(s3_settings) as opened:
        yield opened


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post_form(
    browser: aiohttp.ClientSession,
    post: PresignedPost,
    body: bytes,
    *,
    fields: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Send the form the way a browser does: every signed field first, the file last."""
    form = aiohttp.FormData()
    for name, value in (fields or post.fields).items():
        form.add_field(name, value)
    form.add_field("file", body, filename="upload.bin", content_type="application/octet-stream")
    async with browser.post(post.url, data=form) as response:
        return response.status, await response.text()


async def put_object(store: Storage, browser: aiohttp.ClientSession, key: str, body: bytes) -> None:
    url = await store.presigned_put(key)
    async with browser.put(url, data=body) as response:
        assert response.status == 200, await response.text()


# -- presigned POST ---------------------------------------------------------------------


async def test_presigned_post_within_the_limit_uploads(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    key = "files/artist-1/cover.png"
    post = await store.presigned_post(key=key, content_type="image/png", max_bytes=len(PNG))

    assert post.url.endswith(f"/{store.bucket}")
    assert post.fields["key"] == key
    assert post.fields["Content-Type"] == "image/png"
    assert post.expires_at - datetime.now(UTC) > timedelta(minutes=14)
    status, text = await post_form(browser, post, PNG)
    assert status in {200, 201, 204}, text

    info = await store.stat(key)
    assert info is not None
    assert info.key == key
    assert info.size == len(PNG)
    assert info.content_type == "image/png"
    assert info.etag
    assert info.last_modified is not None
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=1)
    assert await store.read_head(key, length=8) == PNG[:8]
    assert await store.read_head(key, length=100) == PNG[:100]
    assert await store.read_head(key, length=10 * len(PNG)) == PNG  # shorter than asked


async def test_the_policy_carries_every_condition(store: Storage) -> None:
    post = await store.presigned_post(
        key="files/a/x.pdf", content_type="application/pdf", max_bytes=5000, min_bytes=10
    )
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    conditions = policy["conditions"]
    assert ["eq", "$key", "files/a/x.pdf"] in conditions
    assert ["eq", "$Content-Type", "application/pdf"] in conditions
    assert ["eq", "$bucket", store.bucket] in conditions
    assert ["content-length-range", 10, 5000] in conditions


@pytest.mark.parametrize(
    ("size", "error_code"), [(101, "EntityTooLarge"), (9, "EntityTooSmall")], ids=["over", "under"]
)
async def test_a_body_outside_the_size_range_is_refused_by_the_store(
    store: Storage, browser: aiohttp.ClientSession, size: int, error_code: str
) -> None:
    key = "files/a/big.bin"
    post = await store.presigned_post(
        key=key, content_type="application/octet-stream", max_bytes=100, min_bytes=10
    )
    status, text = await post_form(browser, post, b"x" * size)
    assert 400 <= status < 500
    assert error_code in text
    assert await store.stat(key) is None


async def test_another_content_type_than_the_policy_is_refused(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    key = "files/a/pic.png"
    post = await store.presigned_post(key=key, content_type="image/png", max_bytes=10_000)
    status, _ = await post_form(
        browser, post, PNG, fields={**post.fields, "Content-Type": "text/html"}
    )
    assert status == 403
    assert await store.stat(key) is None


async def test_another_key_than_the_policy_is_refused(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    post = await store.presigned_post(
        key="files/a/mine.png", content_type="image/png", max_bytes=10_000
    )
    status, _ = await post_form(
        browser, post, PNG, fields={**post.fields, "key": "files/b/theirs.png"}
    )
    assert status == 403
    assert await store.stat("files/b/theirs.png") is None
    assert await store.stat("files/a/mine.png") is None


async def test_an_expired_policy_is_refused(store: Storage, browser: aiohttp.ClientSession) -> None:
    key = "files/a/late.png"
    post = await store.presigned_post(
        key=key, content_type="image/png", max_bytes=10_000, expires=timedelta(seconds=1)
    )
    await asyncio.sleep(1.2)
    status, text = await post_form(browser, post, PNG)
    assert status == 403
    assert "expired" in text
    assert await store.stat(key) is None


async def test_a_tampered_policy_is_refused(store: Storage, browser: aiohttp.ClientSession) -> None:
    key = "files/a/huge.bin"
    post = await store.presigned_post(key=key, content_type="image/png", max_bytes=10)
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    policy["conditions"] = [
        ["content-length-range", 1, 10_000_000] if c[0] == "content-length-range" else c
        for c in policy["conditions"]
    ]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    status, text = await post_form(browser, post, PNG, fields={**post.fields, "policy": forged})
    assert status == 403
    assert "SignatureDoesNotMatch" in text
    assert await store.stat(key) is None


# -- presigned GET and PUT --------------------------------------------------------------


async def test_presigned_put_uploads_and_presigned_get_downloads(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    key = "files/a/notes.txt"
    await put_object(store, browser, key, b"hello umbrella")
    info = await store.stat(key)
    assert info is not None
    assert info.size == len(b"hello umbrella")

    url = await store.presigned_get(key)
    async with browser.get(url) as response:
        assert response.status == 200
        assert await response.read() == b"hello umbrella"
        assert "Content-Disposition" not in response.headers


async def test_presigned_get_with_a_download_name_saves_under_that_name(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    key = "files/a/0b9c.bin"
    await put_object(store, browser, key, b"demo")
    name = 'Démo "final".mp3'
    url = await store.presigned_get(key, download_name=name)
    async with browser.get(url) as response:
        assert response.status == 200
        disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="D_mo _final_.mp3"' in disposition
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition


async def test_presigned_urls_are_refused_once_expired_or_altered(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    await put_object(store, browser, "files/a/one.txt", b"one")
    await put_object(store, browser, "files/a/two.txt", b"two")
    altered = (await store.presigned_get("files/a/one.txt")).replace("one.txt", "two.txt")
    async with browser.get(altered) as response:
        assert response.status == 403
    short = await store.presigned_get("files/a/one.txt", expires=timedelta(seconds=1))
    await asyncio.sleep(1.2)
    async with browser.get(short) as response:
        assert response.status == 403


# -- stat, read_head, delete ------------------------------------------------------------


async def test_a_missing_object(store: Storage) -> None:
    assert await store.stat("files/a/nothing") is None
    with pytest.raises(ObjectNotFound):
        await store.read_head("files/a/nothing")


async def test_read_head_of_an_empty_object_is_empty(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    await put_object(store, browser, "files/a/empty", b"")
    assert await store.read_head("files/a/empty") == b""


async def test_delete_is_idempotent(store: Storage, browser: aiohttp.ClientSession) -> None:
    await put_object(store, browser, "files/a/gone.txt", b"bye")
    await store.delete("files/a/gone.txt")
    assert await store.stat("files/a/gone.txt") is None
    await store.delete("files/a/gone.txt")
    await store.delete("files/never/was.txt")


async def test_delete_prefix_removes_exactly_the_objects_under_it(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    inside = ["files/a/1.txt", "files/a/2.txt", "files/a/deeper/3.txt"]
    outside = ["files/b/1.txt", "files/ab.txt", "files/abc/1.txt"]
    for key in inside + outside:
        await put_object(store, browser, key, key.encode())

    # A batch of two makes three objects take two multi-object delete requests.
    assert await store.delete_prefix("files/a/", batch_size=2) == 3
    for key in inside:
        assert await store.stat(key) is None
    for key in outside:
        assert await store.stat(key) is not None
    assert await store.delete_prefix("files/a/") == 0


@pytest.mark.parametrize(
    "key", ["", "/files/a", "files/../secrets", "..", "files/a/..", "a" * 1025]
)
async def test_unsafe_keys_are_programming_errors(store: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        await store.stat(key)
    with pytest.raises(ValueError, match="key"):
        await store.presigned_post(key=key, content_type="image/png", max_bytes=10)


async def test_delete_prefix_refuses_a_prefix_that_is_not_a_folder(store: Storage) -> None:
    for prefix in ["", "files/a", "/files/a/"]:
        with pytest.raises(ValueError, match=r"prefix|key"):
            await store.delete_prefix(prefix)


# -- S3 unavailable ---------------------------------------------------------------------


def every_network_call(store: Storage) -> list[Callable[[], Awaitable[object]]]:
    """One call of each method that talks to S3 (HEAD, ranged GET, DELETE, list + delete)."""
    return [
        store.ping,
        lambda: store.stat("files/a/kept.txt"),
        lambda: store.read_head("files/a/kept.txt"),
        lambda: store.delete("files/a/other.txt"),
        lambda: store.delete_prefix("files/b/"),
    ]


async def test_s3_down_raises_dependency_unavailable_and_recovers(
    s3_settings: Settings, own_s3: DevStack, browser: aiohttp.ClientSession
) -> None:
    assert own_s3.endpoints.s3_endpoint is not None
    settings = s3_settings.model_copy(
        update={"s3_endpoint": own_s3.endpoints.s3_endpoint, "s3_timeout_seconds": 1}
    )
    async with storage.storage(settings) as store:
        await put_object(store, browser, "files/a/kept.txt", b"kept")

        own_s3.processes["s3"].stop()
        for call in every_network_call(store):
            with pytest.raises(DependencyUnavailable) as raised:
                await call()
            assert raised.value.dependency == "s3"
            assert raised.value.status == 503
            assert raised.value.message == (
                "File storage is temporarily unavailable. Try again shortly."
            )

        # Signing is local: links can still be handed out while the store is away.
        assert "X-Amz-Signature=" in await store.presigned_get("files/a/kept.txt")
        post = await store.presigned_post(key="files/a/x", content_type="image/png", max_bytes=9)
        assert post.fields["x-amz-signature"]

        own_s3.restart("s3")
        # The same client (and its connection pool) works again: no restart of ours needed.
        await store.ping()
        info = await store.stat("files/a/kept.txt")
        assert info is not None
        assert info.size == 4
        assert await store.read_head("files/a/kept.txt") == b"kept"


class BrokenS3:
    """An S3 endpoint that answers start-up, then fails the way a sick store or proxy does."""

    def __init__(self) -> None:
        self.mode = "healthy"
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "healthy":
            return web.Response(status=200)  # HEAD bucket at start-up: it exists
        if self.mode == "hang":
            await self.release.wait()
            return web.Response(status=504)
        if self.mode == "503-xml":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
                "<Message>Please reduce your request rate.</Message></Error>"
            )
            return web.Response(status=503, text=body, content_type="application/xml")
        if self.mode == "502-html":
            return web.Response(status=502, text="<h1>Bad Gateway</h1>", content_type="text/html")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            "<Message>Access Denied.</Message></Error>"
        )
        return web.Response(status=403, text=body, content_type="application/xml")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def broken_s3(s3_settings: Settings) -> AsyncIterator[tuple[BrokenS3, Storage]]:
    fake = BrokenS3()
    await fake.start()
    settings = s3_settings.model_copy(update={"s3_endpoint": fake.url, "s3_timeout_seconds": 0.3})
    try:
        async with storage.storage(settings) as store:
            yield fake, store
    finally:
        await fake.stop()


@pytest.mark.parametrize("mode", ["503-xml", "502-html", "hang"])
async def test_s3_failing_or_timing_out_raises_dependency_unavailable(
    broken_s3: tuple[BrokenS3, Storage], mode: str
) -> None:
    fake, store = broken_s3
    fake.mode = mode
    for call in every_network_call(store):
        with pytest.raises(DependencyUnavailable) as raised:
            await call()
        assert raised.value.dependency == "s3"


async def test_s3_refusing_us_is_not_an_outage(broken_s3: tuple[BrokenS3, Storage]) -> None:
    # A 403 means wrong credentials or policy: a bug to see in the logs, not a 503 to retry.
    fake, store = broken_s3
    fake.mode = "403"
    with pytest.raises(S3Error) as raised:
        await store.read_head("files/a/x")
    assert raised.value.code == "AccessDenied"


# -- copy, ranges, listing, served type --------------------------------------------------


async def test_copy_makes_an_independent_object_with_our_type(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    await put_object(store, browser, "uploads/one.png", PNG)
    await store.copy("uploads/one.png", "files/a/one.png", content_type="image/png")
    # Writing the source again leaves the copy as it was.
    await put_object(store, browser, "uploads/one.png", b"<html>other</html>")
    url = await store.presigned_get("files/a/one.png")
    async with browser.get(url) as response:
        assert await response.read() == PNG
        assert response.headers["Content-Type"] == "image/png"
    with pytest.raises(ObjectNotFound):
        await store.copy("uploads/never.png", "files/a/never.png", content_type="image/png")


async def test_read_range_reads_from_an_offset(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    await put_object(store, browser, "files/a/range.bin", PNG)
    assert await store.read_range("files/a/range.bin", offset=8, length=8) == PNG[8:16]
    assert (
        await store.read_range("files/a/range.bin", offset=len(PNG) - 4, length=100) == (PNG[-4:])
    )


async def test_list_objects_lists_one_folder_with_times(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    for key in ("uploads/a.png", "uploads/b.png", "uploadsx/c.png", "files/a/d.png"):
        await put_object(store, browser, key, b"x" * 3)
    found = await store.list_objects("uploads/")
    assert sorted(item.key for item in found) == ["uploads/a.png", "uploads/b.png"]
    assert all(item.size == 3 and item.last_modified is not None for item in found)
    with pytest.raises(ValueError, match="must end with '/'"):
        await store.list_objects("uploads")


async def test_a_download_link_answers_the_type_we_recorded(
    store: Storage, browser: aiohttp.ClientSession
) -> None:
    """SeaweedFS honours response-content-type; no S3 lets a link set X-Content-Type-Options."""
    await put_object(store, browser, "files/a/typed.bin", b"<html>x</html>")
    url = await store.presigned_get("files/a/typed.bin", content_type="application/pdf")
    async with browser.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/pdf"
