"""Postgres: the Piccolo engine's pool as an aiohttp cleanup context."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import asyncpg.pool
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

from umbrella.config import Settings, redact_url
from umbrella.core.errors import DependencyUnavailable

log = logging.getLogger(__name__)

os.environ.setdefault("PICCOLO_CONF", "umbrella.piccolo_conf")


POOL_BUSY_MESSAGE = (
    "The database (Postgres) is too busy to take this request right now. Try again shortly."
)


class Pool(asyncpg.pool.Pool):  # type: ignore[misc]
    """asyncpg's pool, except that waiting for a connection ends after `acquire_timeout`.

    Without a bound a request waits for as long as every connection is lent out (a slow
    download held one each): the client got no answer at all and readiness went red. Past
    the bound the caller gets `DependencyUnavailable("postgres")`, a 503 with Retry-After.
    Every acquire goes through `_acquire` (Piccolo's queries and transactions, `fetch`,
    jobs, cron locks), so no caller can forget the bound.
    """

    __slots__ = ("acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's)
        bound = self.acquire_timeout if timeout is None else timeout
        try:
            return await super()._acquire(bound)
        except TimeoutError as error:
            log.warning("no postgres connection came free in time", extra={"seconds": bound})
            raise DependencyUnavailable("postgres", POOL_BUSY_MESSAGE) from error


class Transaction(PostgresTransaction):
    """Piccolo's transaction, except that its connection always goes back to the pool.

    Piccolo returns the connection only when BEGIN, COMMIT and ROLLBACK all succeed: with
    Postgres going away mid-transaction one of them raises, the pool slot was never given
    back, and after `db_pool_max_size` such requests every later one waited for a
    connection forever, even once Postgres was back. A connection whose transaction
    statement failed is terminated, not reused: its protocol state is unknown.
    """

    __slots__ = ()

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()  # type: ignore[no-untyped-call]
        try:
            self.transaction = self.connection.transaction()
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            await self._give_back(broken=True)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        broken = True
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
            broken = False
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._give_back(broken=broken)
        return exception is None

    async def _give_back(self, *, broken: bool) -> None:
        connection = self.connection
        if broken and not connection.is_closed():
            connection.terminate()  # the pool opens a new one in its place
        if self.engine.pool:
            await self.engine.pool.release(connection)
        elif not broken:
            await connection.close()


class Engine(PostgresEngine):
    """The Piccolo engine with a transaction that never strands a pooled connection, and a
    pool whose acquire is bounded (`Pool`)."""

    # Set from `db_pool_acquire_timeout_seconds` by `configure_engine`.
    acquire_timeout: float | None = None

    async def start_connection_pool(self, **kwargs: Any) -> None:
        if self.pool is not None:
            raise RuntimeError("the connection pool is already running")
        config = {**self.config, **kwargs}
        # asyncpg.create_pool's defaults, with our pool class.
        config.setdefault("max_queries", 50_000)
        config.setdefault("max_inactive_connection_lifetime", 300.0)
        self.pool = await Pool(
            acquire_timeout=self.acquire_timeout,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            **config,
        )

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return Transaction(engine=self, allow_nested=allow_nested)

    async def check_version(self) -> None:
        """Nothing: Piccolo calls this when the engine is built, at import, with no settings.

        It would connect to whatever listens on localhost:5432 (with the environment's PG*
        variables) and, in a container where nothing does, print "Unable to fetch server
        version" on every command. The pool logs the server's version when it opens.
        """

    async def prep_database(self) -> None:
        """Nothing: we create no extension at import (Piccolo's default list is empty anyway)."""


def engine() -> PostgresEngine:
    """The engine every Piccolo table is bound to."""
    from umbrella.piccolo_conf import DB

    return DB


# Failures that mean Postgres is unreachable or restarting, not that a statement is wrong.
POSTGRES_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    # A query on a pooled connection the server has just closed, before asyncpg saw it close.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)
# Outside a request (the worker, the sampler) a refused or timed-out connect counts too;
# a request maps those to its own answers (S3 and Redis raise them as well).
POSTGRES_UNREACHABLE_ERRORS = (*POSTGRES_DOWN_ERRORS, OSError, TimeoutError)


def postgres_down(error: BaseException) -> bool:
    """Whether `error` (or one it groups or was raised from) says Postgres is unreachable."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, POSTGRES_UNREACHABLE_ERRORS):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False


def pool_in_use() -> int:
    """Connections of this process's pool lent out right now (0 while it is closed)."""
    pool = engine().pool
    return 0 if pool is None else pool.get_size() - pool.get_idle_size()


def pool_max_size() -> int:
    pool = engine().pool
    return 0 if pool is None else pool.get_max_size()


def database_address(settings: Settings, *, pooled: bool = False) -> str:
    """The DSN to connect to: the direct Postgres address unless the caller asks for the pooled
    one (only the api does). With PgBouncer in transaction pooling, `database_url` points at
    the pooler and `direct_database_url` at Postgres: the worker's queue connection LISTENs,
    cron locks are session-level, and migrations hold locks across statements, none of
    which a transaction pooler carries."""
    if pooled:
        return settings.database_url
    return settings.direct_database_url or settings.database_url


def behind_pooler(settings: Settings, *, pooled: bool) -> bool:
    """Whether connections go through a pooler: a pooled address distinct from the direct one."""
    direct = settings.direct_database_url
    return pooled and direct is not None and direct != settings.database_url


def connection_config(
    settings: Settings,
    *,
    application_name: str,
    statement_timeout_ms: int | None = None,
    pooled: bool = False,
    extra_server_settings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """asyncpg connect() arguments for our database (the timeout: the setting's, unless given).

    `pooled`: the api's pool, which goes through PgBouncer when one is configured.
    """
    server_settings = {"application_name": application_name, "timezone": "UTC"}
    if not behind_pooler(settings, pooled=pooled):
        # Our statements take milliseconds: compiling them (JIT) or starting parallel
        # workers costs more than it saves, and on a small machine the workers compete
        # with the other requests for the same cores (docs/performance.md). PgBouncer
        # refuses startup parameters it does not track: behind it, its connect_query sets
        # these on each server connection instead (README "Database connections").
        server_settings["jit"] = "off"
        server_settings["max_parallel_workers_per_gather"] = "0"
    timeout = (
        settings.db_statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
    )
    if timeout:
        # Behind PgBouncer it is ignored (ignore_startup_parameters) and set by connect_query.
        server_settings["statement_timeout"] = str(timeout)
    server_settings.update(extra_server_settings or {})
    return {
        "dsn": database_address(settings, pooled=pooled),
        "timeout": settings.db_connect_timeout_seconds,
        # 0 behind a transaction pooler: a statement prepared on one server connection is
        # missing on the next (asyncpg then sends unnamed statements only).
        "statement_cache_size": settings.db_statement_cache_size,
        "server_settings": server_settings,
    }


def configure_engine(
    settings: Settings,
    *,
    application_name: str,
    statement_timeout_ms: int | None = None,
    pooled: bool = False,
    extra_server_settings: Mapping[str, str] | None = None,
) -> PostgresEngine:
    """Point the engine at the configured database (no connection is opened)."""
    db = engine()
    db.config = connection_config(
        settings,
        application_name=application_name,
        statement_timeout_ms=statement_timeout_ms,
        pooled=pooled,
        extra_server_settings=extra_server_settings,
    )
    if isinstance(db, Engine):
        db.acquire_timeout = settings.db_pool_acquire_timeout_seconds
    return db


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is: no reset statement.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release, one more round trip for every statement run outside a
    transaction, which doubles the statements of a read-only request. Our pooled
    connections hold no session state to undo: settings are fixed at connect
    (`server_settings`) or `SET LOCAL`, advisory locks are transaction-scoped except the
    cron lock, which is released in a `finally`, and LISTEN happens only on pgqueuer's own
    connection. An open transaction is still rolled back by asyncpg before this runs.
    Behind PgBouncer a `RESET ALL` would also undo, on whichever server connection it ran,
    the settings PgBouncer's connect_query made there (statement_timeout).
    """


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run one statement with asyncpg's `$n` placeholders; its rows as dicts.

    The one way to send SQL that is not single-table CRUD (that goes through Piccolo's query
    builder): joins, upserts, `RETURNING`, window functions, locks. Inside a Piccolo
    transaction (`DB.transaction()`) it runs on that transaction's connection, so it commits
    or rolls back with everything else there; outside one it borrows a pooled connection
    for this statement. Statements are prepared and cached per connection by asyncpg, and
    binding skips Piccolo's query building (docs/performance.md).
    """
    db = engine()
    transaction = db.current_transaction.get()
    if transaction is not None:
        records = await transaction.connection.fetch(sql, *args)
    elif db.pool is None:  # a one-shot command without a pool
        connection = await asyncpg.connect(**db.config)
        try:
            records = await connection.fetch(sql, *args)
        finally:
            await connection.close()
    else:
        async with db.pool.acquire() as connection:
            records = await connection.fetch(sql, *args)
    return [dict(record) for record in records]


@asynccontextmanager
async def database(
    settings: Settings, *, application_name: str, pooled: bool = False
) -> AsyncIterator[PostgresEngine]:
    """Open the pool, check it (and read the server's version), close it on exit.

    `pooled`: connect through the pooler (PgBouncer) when one is configured; only the api
    does, every other process uses the direct address (`database_address`).
    """
    db = configure_engine(settings, application_name=application_name, pooled=pooled)
    if db.pool is not None:
        await db.close_connection_pool()
    await db.start_connection_pool(
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        reset=_keep_session,
    )
    try:
        rows = await db.run_ddl("SHOW server_version")
        log.info(
            "postgres connected",
            extra={
                "dsn": redact_url(database_address(settings, pooled=pooled)),
                "server_version": rows[0]["server_version"],
            },
        )
        yield db
    finally:
        await db.close_connection_pool()


@asynccontextmanager
async def connection() -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for work outside Piccolo (its wait is bounded like every acquire)."""
    pool = engine().pool
    if pool is None:
        raise RuntimeError("the database pool is not running")
    async with pool.acquire() as lent:
        yield lent
