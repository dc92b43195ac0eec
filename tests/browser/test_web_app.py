"""The web app's contract in a real browser: the example page of docs/web-app/ in Chromium.

One browser for the module. The page is served at `http://localhost:<port>`, the API at
`http://localhost:<other port>`: the same site, as docs/web-app.md requires. The test
clicks through the page as a person would and reads what each step shows, and checks on
the API's side what the browser really sent (cookies, Origin, preflights, revalidations).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser.chromium import STEP_TIMEOUT_MS, Steps, chromium, failed, succeeded
from tests.browser.stack import WebStack, web_stack
from tests.conftest import Servers

pytestmark = pytest.mark.timeout(90)

# Four polls take three seconds.
POLL_SECONDS = "1"
NO_CORS_LOGOUT = """api => fetch(api + "/v1/auth/logout",
    {method: "POST", mode: "no-cors", credentials: "include"}).then(() => "sent", e => e.message)"""


@pytest.fixture(scope="module")
async def stack(servers: Servers, template_database: str) -> AsyncIterator[WebStack]:
    async with web_stack(servers, template_database) as started:
        yield started


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (no cookies, no cache) for one test."""
    fresh = await browser.new_context()
    fresh.set_default_timeout(STEP_TIMEOUT_MS)
    yield fresh
    await fresh.close()


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Steps:
    return Steps(request.node.name)


async def sign_in(page: Page, stack: WebStack) -> str:
    """Open the page, follow its Google link through the provider and back; what it shows."""
    await page.goto(stack.page_url(stack.app, poll_seconds=POLL_SECONDS))
    assert "Google" in await succeeded(page, "providers-result")
    link = page.locator('a[data-provider="google"]')
    assert await link.get_attribute("href") == f"{stack.api}/v1/auth/login/google"
    await link.click()
    await page.wait_for_url(f"{stack.app}/**")
    return await succeeded(page, "sign-in-result")


async def test_the_web_app_journey(stack: WebStack, context: BrowserContext, steps: Steps) -> None:
    page = await context.new_page()
    cookie_name = stack.settings.session_cookie_name

    async with steps.step("sign-in", page):
        shown = await sign_in(page, stack)
        assert "Onboarding goes on at" in shown
        callback = stack.requests("GET", "/v1/auth/callback/google")
        assert [seen.status for seen in callback] == [303]
        assert callback[0].headers["Location"].startswith(f"{stack.app}/?onboarding_complete=")
        # The page removed the sign-in's query from its address.
        assert page.url == f"{stack.app}/"

    async with steps.step("session", page):
        shown = await succeeded(page, "session-result")
        assert f"{stack.oidc.identity['email']} — role not chosen yet, next step role" in shown
        read = stack.requests("GET", "/v1/auth/session", origin=stack.app)[-1]
        assert read.with_cookie
        assert read.headers["Access-Control-Allow-Origin"] == stack.app
        assert read.headers["Access-Control-Allow-Credentials"] == "true"
        # No script of the page reads the cookie (HttpOnly), and it stays on its site (Lax).
        assert cookie_name not in await page.evaluate("document.cookie")
        (cookie,) = [c for c in await context.cookies(stack.api) if c["name"] == cookie_name]
        assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")

    async with steps.step("cookie-write", page):
        mark = len(stack.seen)
        await page.click("#onboard")
        shown = await succeeded(page, "onboard-result")
        assert "Artist profile: true; next step step2" in shown
        assert "role artist, next step step2" in await succeeded(page, "session-result")
        (write,) = stack.requests("POST", "/v1/onboarding/role", since=mark)
        assert (write.status, write.origin, write.with_cookie) == (200, stack.app, True)

    async with steps.step("upload", page):
        mark = len(stack.seen)
        store = stack.settings.s3_endpoint
        # The file goes from the page straight to the store, never through the API.
        async with page.expect_response(
            lambda answer: answer.url.startswith(store) and answer.request.method == "POST"
        ) as stored:
            await page.click("#upload")
        assert (await stored.value).status == 204
        shown = await succeeded(page, "upload-result")
        assert "umbrella-example.png" in shown
        assert "image/png" in shown
        (confirm,) = stack.requests("POST", "/v1/files", since=mark)
        assert confirm.status == 201

    async with steps.step("preview", page):
        assert "Shown from its link" in await succeeded(page, "preview-result")
        width = await page.locator("#preview").evaluate("image => image.naturalWidth")
        assert width == 160
        (shown_file,) = [
            seen
            for seen in stack.seen[mark:]
            if seen.method == "GET" and seen.path.startswith("/v1/files/")
        ]
        assert shown_file.query == {"disposition": "inline"}
        assert shown_file.status == 200
        # The link shows the image rather than saving it.
        link = await page.locator("#preview").get_attribute("src")
        assert link is not None
        answer = await context.request.get(link)
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["content-disposition"].startswith("inline")

    async with steps.step("poll", page):
        mark = len(stack.seen)
        await page.click("#poll-start")
        await page.wait_for_function(
            "parseInt(document.getElementById('poll-result').textContent) >= 4",
            timeout=STEP_TIMEOUT_MS,
        )
        await page.click("#poll-stop")
        load, *polls = stack.requests("GET", "/v1/conversations", since=mark)
        # The inbox, then the first poll of its `since` (200, kept by the browser's cache),
        # then the browser's own revalidations of it: 304s to its ETag, and no preflight.
        # (The ETag turns every half hour: one poll may meet the turn and get a 200.)
        assert (load.status, load.if_none_match, polls[0].status) == (200, None, 200)
        assert all(poll.query == {"since": load.body["data"]["since"]} for poll in polls)
        assert 304 in [poll.status for poll in polls[1:]]
        for previous, poll in itertools.pairwise(polls):
            assert poll.if_none_match == previous.headers["ETag"]
        assert stack.requests("OPTIONS", "/v1/conversations", since=mark) == []

    async with steps.step("sign-out", page):
        mark = len(stack.seen)
        await page.click("#sign-out")
        assert "Signed out (1 session revoked)" in await succeeded(page, "sign-out-result")
        code, _ = await failed(page, "session-result")
        assert code == "UNAUTHORIZED"
        signed_out = stack.requests("GET", "/v1/auth/session", since=mark)
        assert [seen.status for seen in signed_out] == [401]
        assert [c for c in await context.cookies(stack.api) if c["name"] == cookie_name] == []


async def test_pages_of_other_origins_are_refused(
    stack: WebStack, context: BrowserContext, steps: Steps
) -> None:
    app = await context.new_page()
    async with steps.step("sign-in", app):
        await sign_in(app, stack)
        await succeeded(app, "session-result")

    # The same site on another port: the browser sends the cookie, the API must refuse.
    sibling = await context.new_page()
    async with steps.step("sibling-origin", sibling):
        mark = len(stack.seen)
        await sibling.goto(stack.page_url(stack.sibling))
        code, _ = await failed(sibling, "session-result")
        assert code == "NETWORK"  # CORS: the answer is not for this origin
        (read,) = stack.requests("GET", "/v1/auth/session", origin=stack.sibling, since=mark)
        assert read.with_cookie
        assert "Access-Control-Allow-Origin" not in read.headers
        assert await sibling.evaluate(NO_CORS_LOGOUT, stack.api) == "sent"
        (write,) = stack.requests("POST", "/v1/auth/logout", origin=stack.sibling, since=mark)
        assert write.with_cookie
        assert write.status == 403
        assert (write.error["code"], write.error["field"]) == ("FORBIDDEN", "Origin")

    # Another site: the browser withholds the SameSite=Lax cookie altogether.
    foreign = await context.new_page()
    async with steps.step("foreign-site", foreign):
        mark = len(stack.seen)
        await foreign.goto(stack.page_url(stack.foreign))
        code, _ = await failed(foreign, "session-result")
        assert code == "NETWORK"
        (read,) = stack.requests("GET", "/v1/auth/session", origin=stack.foreign, since=mark)
        assert (read.with_cookie, read.status) == (False, 401)
        assert "Access-Control-Allow-Origin" not in read.headers
        assert await foreign.evaluate(NO_CORS_LOGOUT, stack.api) == "sent"
        (write,) = stack.requests("POST", "/v1/auth/logout", origin=stack.foreign, since=mark)
        assert (write.with_cookie, write.status) == (False, 401)

    async with steps.step("still-signed-in", app):
        async with app.expect_response(f"{stack.api}/v1/auth/session") as answer:
            await app.click("#read-session")
        assert (await answer.value).status == 200
        await succeeded(app, "session-result")


async def test_a_failed_sign_in_comes_back_to_the_page(
    stack: WebStack, context: BrowserContext, steps: Steps
) -> None:
    page = await context.new_page()
    async with steps.step("sign-in-error", page):
        await page.goto(stack.page_url(stack.app))
        await succeeded(page, "providers-result")
        # A login link for a provider this API does not have, as a stale bookmark would be.
        await page.goto(f"{stack.api}/v1/auth/login/myspace")
        await page.wait_for_url(f"{stack.app}/**")
        code, shown = await failed(page, "sign-in-result")
        assert code == "NOT_FOUND"
        assert "field provider" in shown
        assert page.url == f"{stack.app}/"
