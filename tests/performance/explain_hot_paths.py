"""EXPLAIN (ANALYZE, BUFFERS) of every statement the hot requests send (a script, not a test).

    UMBRELLA_ENV=development UMBRELLA_DATABASE_URL=… UMBRELLA_REDIS_URL=… UMBRELLA_S3_…=… \\
        .venv/bin/python -m tests.performance.explain_hot_paths > /tmp/plans.md

Point it at a database loaded by `umbrella seed --artists 100000 --gigs 1000000 --messages
1000000`. It serves the api in this process, sends each hot request once to warm the
caches and once to record the statements (with their arguments) at the asyncpg layer,
then explains every statement on its own connection: reads with ANALYZE and BUFFERS,
writes planned only (run again, an insert would collide), in a transaction rolled back.
docs/performance.md quotes its output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from umbrella import keys
from umbrella.accounts import views as accounts_views
from umbrella.app import create_app
from umbrella.config import load_settings

Recorded = list[tuple[str, tuple[Any, ...]]]
_recording: Recorded | None = None


def _record_statements() -> None:
    """Wrap asyncpg's query methods to note each statement and its arguments."""
    for name in ("fetch", "fetchrow", "fetchval", "execute"):
        original = getattr(asyncpg.Connection, name)

        async def wrapper(
            self: Any, query: str, *args: Any, __original: Any = original, **kw: Any
        ) -> Any:
            if _recording is not None and args:
                _recording.append((query, args))
            return await __original(self, query, *args, **kw)

        setattr(asyncpg.Connection, name, wrapper)


async def _explain(connection: asyncpg.Connection, query: str, args: tuple[Any, ...]) -> str:
    """Reads run under ANALYZE; a write is only planned (run again it would collide)."""
    is_read = query.lstrip().upper().startswith(("SELECT", "WITH"))
    options = "ANALYZE, BUFFERS, FORMAT TEXT" if is_read else "FORMAT TEXT"
    transaction = connection.transaction()
    await transaction.start()
    try:
        rows = await connection.fetch(f"EXPLAIN ({options}) {query}", *args)
    finally:
        await transaction.rollback()
    return "\n".join(row[0] for row in rows)


async def main() -> None:
    global _recording
    _record_statements()
    settings = load_settings()
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    connection = await asyncpg.connect(settings.database_url)
    try:
        viewer = await connection.fetchrow(
            "SELECT a.id AS artist_id, a.user_id FROM artists a"
            " ORDER BY a.follower_count DESC LIMIT 1"
        )
        other = await connection.fetchval("SELECT id FROM artists ORDER BY id LIMIT 1 OFFSET 500")
        conversation = await connection.fetchrow(
            "SELECT id, participant_1_id FROM conversations ORDER BY last_activity_at DESC LIMIT 1"
        )
        busiest = await connection.fetchrow(
            "SELECT city, genre FROM gigs WHERE status = 'open' AND date >= current_date"
            " GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"
        )
        gig_id = await connection.fetchval(
            "SELECT g.id FROM gigs g WHERE g.status = 'open' AND g.date > current_date"
            " AND NOT EXISTS (SELECT 1 FROM gig_applications a WHERE a.gig_id = g.id"
            " AND a.artist_id = $1) LIMIT 1",
            viewer["artist_id"],
        )
        sessions = app[accounts_views.SESSION_STORE]
        artist = {
            "Authorization": f"Bearer {(await sessions.create(user_id=viewer['user_id'])).token}"
        }
        member = {
            "Authorization": "Bearer "
            + (await sessions.create(user_id=conversation["participant_1_id"])).token
        }
        browse = {"city": busiest["city"], "genre": busiest["genre"], "limit": "20"}
        requests: list[tuple[str, Callable[[], Awaitable[ClientResponse]]]] = [
            ("profile view", lambda: client.get(f"/v1/profile/{other}")),
            ("gig browse, filtered", lambda: client.get("/v1/gigs", params=browse, headers=artist)),
            ("search", lambda: client.get("/v1/search", params={"q": "velvet"}, headers=artist)),
            ("inbox", lambda: client.get("/v1/conversations", headers=member)),
            (
                "thread",
                lambda: client.get(f"/v1/conversations/{conversation['id']}", headers=member),
            ),
            (
                "send message",
                lambda: client.post(
                    f"/v1/conversations/{conversation['id']}/messages",
                    json={"content": "explained"},
                    headers=member,
                ),
            ),
            ("apply", lambda: client.post(f"/v1/gigs/{gig_id}/apply", headers=artist)),
        ]
        await app[keys.REDIS].flushdb()  # every request starts uncached
        for title, request in requests:
            _recording = []
            started = time.perf_counter()
            response = await request()
            await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            recorded, _recording = _recording, None
            print(
                f"## {title} ({response.status}, {elapsed:.1f} ms,"
                f" {len(recorded)} statements with arguments)\n"
            )
            for query, args in recorded:
                if query.lstrip().upper().startswith(("BEGIN", "COMMIT")):
                    continue
                plan = await _explain(connection, query, args)
                shown = " ".join(query.split())
                print("```sql\n" + (shown if len(shown) < 400 else shown[:400] + " …") + "\n```")
                print("```\n" + plan + "\n```\n")
    finally:
        await connection.close()
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
