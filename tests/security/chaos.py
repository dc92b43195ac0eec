"""A steady mix of real requests against a running api, each outcome counted and checked.

Used by the fault-injection and graceful-shutdown tests: several clients loop over
profile reads, gig browse, inbox polls, session checks, message sends and file uploads
(upload URL, the browser's POST to S3, confirm), and every answer is judged: a right
answer, a 503 error envelope, or a failure (500, wrong answer, connection error, hang).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp

from tests.factories import make_artist, make_user
from tests.gigs.marketplace import insert_gig
from tests.uploads import PNG
from umbrella.files.tables import File
from umbrella.messaging.tables import Message

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True)
class Actor:
    """A signed-in artist with a conversation of their own with the venue."""

    user_id: UUID
    artist_id: UUID
    headers: dict[str, str]
    conversation_id: str


@dataclass(frozen=True)
class Cast:
    """Who loads the api and what a right answer must contain."""

    actors: list[Actor]
    venue_id: UUID
    gig_ids: frozenset[str]
    stage_names: dict[str, str]  # artist id → stage name


@dataclass(frozen=True)
class Outcome:
    kind: str
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    problem: str | None  # why the answer is wrong; None when it is right
    phase: str  # the phase when the request was sent
    phase_after: str  # the phase when it was answered


class Failed(Exception):
    """A request that got no HTTP answer at all."""


# Base URLs for the next request, best first: a balancer lists every ready replica, and a
# refused connection (nothing was sent) is tried on the next, as kube-proxy does.
Route = Callable[[], Awaitable[list[str]]]


@dataclass
class Load:
    """Runs `concurrency` clients until stopped; `phase` labels what each request saw."""

    http: aiohttp.ClientSession
    route: Route
    cast: Cast
    uploads: bool = True
    phase: str = "before"
    outcomes: list[Outcome] = field(default_factory=list)
    acked_messages: dict[str, str] = field(default_factory=dict)  # id → content
    confirmed_files: set[str] = field(default_factory=set)
    store_refusals: int = 0  # the browser's own POST to S3 failing (S3 is down)
    retried_confirms: list[int | None] = field(default_factory=list)
    refused_and_retried: int = 0
    _held: dict[int, dict[str, Any]] = field(default_factory=dict)  # client → stored ticket
    _unconfirmed: list[tuple[Actor, dict[str, Any]]] = field(default_factory=list)
    _actor_of: dict[int, Actor] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, concurrency: int) -> None:
        for index in range(concurrency):
            actor = self.cast.actors[index % len(self.cast.actors)]
            self._actor_of[index] = actor
            self._tasks.append(asyncio.create_task(self._client(index, actor)))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    # -- reporting ------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Outcomes by `kind:status` (`none` for no answer), for assertion messages."""
        return dict(Counter(f"{o.kind}:{o.status or 'none'}" for o in self.outcomes))

    def summary(self) -> str:
        bad = [o for o in self.outcomes if o.problem][:10]
        return (
            f"{len(self.outcomes)} requests: {sorted(self.counts().items())};"
            f" acked messages {len(self.acked_messages)}, confirmed files"
            f" {len(self.confirmed_files)}, store refusals {self.store_refusals};"
            f" first problems: {bad}"
        )

    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.problem]

    def in_phase(self, phase: str) -> list[Outcome]:
        """Requests sent and answered within `phase`."""
        return [o for o in self.outcomes if o.phase == phase and o.phase_after == phase]

    # -- the clients ----------------------------------------------------------------------

    async def _client(self, index: int, actor: Actor) -> None:
        others = [a for a in self.cast.actors if a.artist_id != actor.artist_id] or [actor]
        step = 0
        while not self._stop.is_set():
            other = others[(index + step) % len(others)]
            step += 1
            await self._profile(actor, other)
            await self._browse(actor)
            await self._inbox(actor)
            await self._session(actor)
            await self._send(actor, f"chaos {index}/{step} {uuid.uuid4().hex[:8]}")
            if self.uploads:
                await self._upload(index, actor)

    async def _call(
        self,
        kind: str,
        method: str,
        path: str,
        actor: Actor,
        check: Callable[[int, Any], str | None],
        json: Any = None,
    ) -> tuple[int | None, Any]:
        """One request; records its outcome and returns (status, body) for follow-ups."""
        phase = self.phase
        try:
            status, body, retry_after = await self._send_first(method, path, actor, json)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            self.outcomes.append(
                Outcome(kind, None, f"no answer: {type(error).__name__}", phase, self.phase)
            )
            return None, None
        problem = _judge(status, body, retry_after, check)
        self.outcomes.append(Outcome(kind, status, problem, phase, self.phase))
        return status, body

    async def _send_first(
        self, method: str, path: str, actor: Actor, json: Any
    ) -> tuple[int, Any, str | None]:
        bases = await self.route()
        for number, base in enumerate(bases, start=1):
            try:
                async with self.http.request(
                    method, base + path, json=json, headers=actor.headers, timeout=REQUEST_TIMEOUT
                ) as response:
                    body = await response.json() if response.content_type.endswith("json") else None
                    return response.status, body, response.headers.get("Retry-After")
            except aiohttp.ClientConnectorError:
                if number == len(bases):
                    raise
                self.refused_and_retried += 1
        raise AssertionError("no replica to send to")

    async def _profile(self, actor: Actor, other: Actor) -> None:
        expected = self.cast.stage_names[str(other.artist_id)]

        def check(status: int, data: Any) -> str | None:
            if data.get("stage_name") != expected:
                return f"profile of {other.artist_id} named {data.get('stage_name')!r}"
            return None

        await self._call("profile", "GET", f"/v1/profile/{other.artist_id}", actor, check)

    async def _browse(self, actor: Actor) -> None:
        def check(status: int, data: Any) -> str | None:
            found = {item["id"] for item in data["items"]}
            if found != self.cast.gig_ids:
                return f"browse listed {sorted(found)}"
            return None

        await self._call("browse", "GET", "/v1/gigs?limit=50", actor, check)

    async def _inbox(self, actor: Actor) -> None:
        def check(status: int, data: Any) -> str | None:
            found = [item["id"] for item in data["items"]]
            if found != [actor.conversation_id]:
                return f"inbox listed {found}"
            return None

        await self._call("inbox", "GET", "/v1/conversations", actor, check)

    async def _session(self, actor: Actor) -> None:
        def check(status: int, data: Any) -> str | None:
            if data["user"]["id"] != str(actor.user_id):
                return f"session of {data['user']['id']}"
            return None

        await self._call("session", "GET", "/v1/auth/session", actor, check)

    async def _send(self, actor: Actor, content: str) -> None:
        def check(status: int, data: Any) -> str | None:
            if status != 201 or data["content"] != content:
                return f"send answered {status} {data}"
            return None

        path = f"/v1/conversations/{actor.conversation_id}/messages"
        status, body = await self._call("send", "POST", path, actor, check, {"content": content})
        if status == 201:
            self.acked_messages[body["data"]["id"]] = content

    async def _upload(self, index: int, actor: Actor) -> None:
        """Confirm the file stored last round (S3 may have gone since), then store another."""
        held = self._held.pop(index, None)
        if held is not None:
            await self._confirm(actor, held)

        def ticket_check(status: int, data: Any) -> str | None:
            if status != 201 or not data.get("url") or not data.get("fields"):
                return f"upload ticket {status} {data}"
            return None

        request = {"content_type": "image/png", "size_bytes": len(PNG), "filename": "shot.png"}
        status, body = await self._call(
            "upload-url", "POST", "/v1/files/upload", actor, ticket_check, request
        )
        if status == 201 and await self._post_to_store(body["data"]):
            self._held[index] = body["data"]

    async def _confirm(self, actor: Actor, ticket: dict[str, Any]) -> int | None:
        # 200: an earlier confirm of this upload committed but its answer was lost (Postgres
        # went away after the commit); the retry answers the same file.
        def check(status: int, data: Any) -> str | None:
            if status not in (200, 201) or data["id"] != ticket["file_id"]:
                return f"confirm {status} {data}"
            return None

        status, _ = await self._call(
            "confirm", "POST", "/v1/files", actor, check, {"upload_id": ticket["upload_id"]}
        )
        if status in (200, 201):
            self.confirmed_files.add(ticket["file_id"])
        else:
            self._unconfirmed.append((actor, ticket))
        return status

    async def confirm_leftovers(self) -> None:
        """Confirm, as a client retrying would, every stored file not confirmed yet."""
        waiting = [*self._unconfirmed, *((self._actor_of[i], t) for i, t in self._held.items())]
        self._unconfirmed, self._held = [], {}
        self.phase = "retry"
        self.retried_confirms = [await self._confirm(actor, ticket) for actor, ticket in waiting]

    async def _post_to_store(self, ticket: dict[str, Any]) -> bool:
        """The browser's upload straight to S3; refused or unreachable while S3 is down."""
        form = aiohttp.FormData()
        for name, value in ticket["fields"].items():
            form.add_field(name, value)
        form.add_field("file", PNG, filename="shot.png", content_type="application/octet-stream")
        try:
            async with self.http.post(ticket["url"], data=form, timeout=REQUEST_TIMEOUT) as sent:
                await sent.read()
                ok = sent.status in (200, 201, 204)
        except (aiohttp.ClientError, TimeoutError, OSError):
            ok = False
        if not ok:
            self.store_refusals += 1
        return ok


def _judge(
    status: int, body: Any, retry_after: str | None, check: Callable[[int, Any], str | None]
) -> str | None:
    """None for a right answer or a proper 503; else what is wrong with it."""
    if status == 503:
        if not isinstance(body, dict) or body.get("success") is not False:
            return f"503 without the error envelope: {body}"
        if body["error"].get("code") != "SERVICE_UNAVAILABLE" or retry_after is None:
            return f"503 with {body['error']} retry-after={retry_after}"
        return None
    if status >= 300:
        return f"{status}: {body}"
    if not isinstance(body, dict) or body.get("success") is not True:
        return f"{status} without a success envelope: {body}"
    return check(status, body["data"])


async def wait_for_readiness(
    http: aiohttp.ClientSession, url: str, *, ready: bool, seconds: float
) -> float:
    """Poll `/readyz` until it says `ready` (200) or not (503); the seconds it took."""
    started = time.monotonic()
    wanted = 200 if ready else 503
    while time.monotonic() - started < seconds:
        try:
            async with http.get(f"{url}/readyz", timeout=REQUEST_TIMEOUT) as response:
                if response.status == wanted:
                    return time.monotonic() - started
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz did not turn {'ready' if ready else 'not ready'} in {seconds}s")


# The signed-in headers of a user (a real session, as sign-in opens it).
SignIn = Callable[[UUID], Awaitable[dict[str, str]]]


async def make_cast(
    http: aiohttp.ClientSession, url: str, sign_in: SignIn, *, artists: int
) -> Cast:
    """Artists who each talk with one venue, and three open gigs, made as the product makes them."""
    venue_id = await make_user(role="venue", onboarding_complete=True)
    gig_ids = frozenset([str(await insert_gig(venue_id)) for _ in range(3)])
    actors: list[Actor] = []
    names: dict[str, str] = {}
    for number in range(artists):
        name = f"Chaos Artist {number}"
        user_id, artist_id = await make_artist(stage_name=name)
        headers = await sign_in(user_id)
        async with http.post(
            f"{url}/v1/conversations", json={"user_id": str(venue_id)}, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            conversation_id = (await response.json())["data"]["id"]
        actors.append(Actor(user_id, artist_id, headers, conversation_id))
        names[str(artist_id)] = name
    return Cast(actors=actors, venue_id=venue_id, gig_ids=gig_ids, stage_names=names)


async def stored_messages(ids: Iterable[str]) -> dict[str, str]:
    """The messages of these ids that Postgres holds: id → content."""
    wanted = [UUID(id_) for id_ in ids]
    if not wanted:
        return {}
    rows = await Message.select(Message.id, Message.content).where(Message.id.is_in(wanted))
    return {str(row["id"]): str(row["content"]) for row in rows}


async def stored_files(ids: Iterable[str]) -> set[str]:
    wanted = [UUID(id_) for id_ in ids]
    if not wanted:
        return set()
    rows = await File.select(File.id).where(File.id.is_in(wanted))
    return {str(row["id"]) for row in rows}
