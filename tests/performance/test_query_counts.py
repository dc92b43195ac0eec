"""Statements per request on the hot paths: a fixed, small number, whatever the data size.

Every statement the api sends through asyncpg is counted (the OpenTelemetry asyncpg
instrumentation, exporting to memory). A budget that grows with the rows on a page is
an N+1; these tests fail on one. Transaction control (BEGIN, COMMIT) counts too: a
request that opens two transactions where one would do is slower as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.gigs import marketplace
from tests.messaging import chat

Client = TestClient[web.Request, web.Application]


@dataclass
class StatementCounter:
    exporter: InMemorySpanExporter

    async def of(self, request: Callable[[], Awaitable[ClientResponse]]) -> tuple[int, list[str]]:
        """The statements one request sent, after it answered."""
        self.exporter.clear()
        response = await request()
        assert response.status < 400, await response.text()
        await response.read()
        statements = [
            str((span.attributes or {}).get("db.statement", span.name))
            for span in self.exporter.get_finished_spans()
        ]
        return len(statements), statements


@pytest.fixture
async def statements() -> AsyncIterator[StatementCounter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AsyncPGInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield StatementCounter(exporter)
    finally:
        instrumentor.uninstrument()


# Statements per request today; lower is fine (lower the budget), higher needs a reason.
BUDGETS = {
    "profile view, uncached": 1,
    "profile view, cached": 0,
    # One statement per page; one more when the walk wraps around the key ring, one more
    # for the cards of venues new since the last venue-stats refresh (all of them here).
    "gig browse, filtered": 3,
    "gig browse, next page": 3,
    "search, uncached": 2,
    "search, cached": 0,
    "inbox": 3,
    "inbox poll, unchanged": 0,
    "thread": 4,
    "send message": 7,
    # One of them asks whether the artist marked the day unavailable or is booked then.
    "apply": 16,
}


async def test_hot_paths_send_a_fixed_number_of_statements(
    client: Client, statements: StatementCounter
) -> None:
    owner = await marketplace.venue(client)
    gigs = [await marketplace.post_gig(client, owner, title=f"Night {n}") for n in range(12)]
    fan = await chat.artist(client, stage_name="Nova")
    people = [await chat.artist(client, stage_name=f"Artist {n}") for n in range(6)]
    me = people[0]
    for other in people[1:]:
        conversation = await chat.start(client, me, other)
        await chat.send(client, other, conversation["id"], "hello")
    conversation_id = conversation["id"]
    counts: dict[str, int] = {}
    seen: dict[str, list[str]] = {}

    async def measure(
        name: str, request: Callable[[], Awaitable[ClientResponse]], *, warm: bool = True
    ) -> None:
        if warm:  # a steady client: its session is cached, like every poll after the first
            await (await request()).read()
        counts[name], seen[name] = await statements.of(request)

    await measure(
        "profile view, uncached", lambda: client.get(f"/v1/artists/{me.artist_id}"), warm=False
    )
    await measure("profile view, cached", lambda: client.get(f"/v1/artists/{me.artist_id}"))
    browse = {"city": "Austin", "limit": "5"}
    await measure(
        "gig browse, filtered", lambda: client.get("/v1/gigs", params=browse, headers=fan.headers)
    )
    first = await (await client.get("/v1/gigs", params=browse, headers=fan.headers)).json()
    scroll = {**browse, "cursor": first["data"]["next_cursor"]}
    await measure(
        "gig browse, next page", lambda: client.get("/v1/gigs", params=scroll, headers=fan.headers)
    )
    await client.get("/v1/search", params={"q": "warm"}, headers=fan.headers)
    await measure(
        "search, uncached",
        lambda: client.get("/v1/search", params={"q": "artist"}, headers=fan.headers),
        warm=False,
    )
    await measure(
        "search, cached",
        lambda: client.get("/v1/search", params={"q": "artist"}, headers=fan.headers),
    )
    await measure("inbox", lambda: client.get("/v1/conversations", headers=me.headers))
    etag = (await client.get("/v1/conversations", headers=me.headers)).headers["ETag"]
    await measure(
        "inbox poll, unchanged",
        lambda: client.get("/v1/conversations", headers={**me.headers, "If-None-Match": etag}),
    )
    await measure(
        "thread", lambda: client.get(f"/v1/conversations/{conversation_id}", headers=me.headers)
    )
    await measure(
        "send message",
        lambda: client.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"content": "again"},
            headers=me.headers,
        ),
    )
    applicants = iter(people[1:])

    async def apply_once() -> ClientResponse:
        gig_id = gigs.pop()["id"]
        return await client.post(f"/v1/gigs/{gig_id}/apply", headers=next(applicants).headers)

    await measure("apply", apply_once)
    report = "\n".join(
        f"{name}: {count} (budget {BUDGETS[name]})\n    "
        + "\n    ".join(s[:120] for s in seen[name])
        for name, count in counts.items()
    )
    assert set(counts) == set(BUDGETS)
    assert all(counts[name] <= BUDGETS[name] for name in BUDGETS), report
    # The cached answers really come from Redis, not from a budget set too high.
    assert counts["profile view, cached"] == counts["inbox poll, unchanged"] == 0


async def test_the_statements_do_not_grow_with_the_page(
    client: Client, statements: StatementCounter
) -> None:
    """An N+1 shows as more statements for a longer page: the same number, 1 row or 10."""
    owner = await marketplace.venue(client)
    for n in range(10):
        await marketplace.post_gig(client, owner, title=f"Night {n}")
    fan = await chat.artist(client, stage_name="Nova")
    people = [await chat.artist(client, stage_name=f"Artist {n}") for n in range(10)]
    me = people[0]
    conversation = await chat.start(client, me, people[1])
    await chat.send(client, people[1], conversation["id"], "one")

    async def browse(limit: int) -> int:
        params = {"limit": str(limit)}
        await client.get("/v1/gigs", params=params, headers=fan.headers)
        count, _ = await statements.of(
            lambda: client.get("/v1/gigs", params=params, headers=fan.headers)
        )
        return count

    # The shuffled order starts at a random key; a page that reaches the end of the keys
    # wraps around with one more statement, whatever its length.
    one_gig, ten_gigs = await browse(1), await browse(10)
    assert one_gig - 1 <= ten_gigs <= one_gig + 1

    async def inbox() -> int:
        await client.get("/v1/conversations", headers=me.headers)
        count, _ = await statements.of(lambda: client.get("/v1/conversations", headers=me.headers))
        return count

    one = await inbox()
    for other in people[2:]:
        started = await chat.start(client, me, other)
        await chat.send(client, other, started["id"], "hi")
    assert await inbox() == one

    async def thread(messages: int) -> int:
        for n in range(messages):
            await chat.send(client, people[1], conversation["id"], f"message {n}")
        path = f"/v1/conversations/{conversation['id']}"
        count, _ = await statements.of(lambda: client.get(path, headers=me.headers))
        return count

    assert await thread(0) == await thread(20)
