"""The bench scenarios: each picks its targets in Postgres and returns prebuilt requests.

A scenario is built right before it runs (so apply pairs already used are skipped, and a
poll's ETag is current). Setup traffic (following gig cursors, reading ETags, starting
conversations) goes through the api like any client, but is never measured. What the
builders share (sessions, the context, target picking) is in context.py.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from uuid import UUID

from umbrella_bench.context import (
    JSON_HEADERS,
    BenchContext,
    BenchSetupError,
    Builder,
    Scenario,
    artist_users,
    bearer,
    planned_requests,
    public_artists,
    user_tokens,
)
from umbrella_bench.load import RequestSpec

HOT_PROFILES = 20
VIEWERS = 50
POLLERS = 200
CONVERSATIONS = 200
GIG_FILTER_COMBOS = 30
GIG_PAGES = 3
GIG_PAGE_LIMIT = 20

# Rates of the scenarios without a target of their own (see report.TARGETS for the others).
DEFAULT_RATES: dict[str, float] = {
    "profile_cached": 300,
    "profile_uncached": 300,
    "gig_browse": 200,
    "search": 100,
    "poll_idle": 500,
    "poll_active": 100,
    "send_message": 100,
    "apply": 50,
    "mixed": 400,
}

# The mixed scenario: roughly what the SPA sends (the inbox poll every 5 s dominates).
MIX_WEIGHTS: dict[str, int] = {
    "poll_idle": 40,
    "profile_cached": 20,
    "profile_uncached": 5,
    "gig_browse": 15,
    "search": 8,
    "poll_active": 5,
    "send_message": 5,
    "apply": 2,
}


# -- profiles ----------------------------------------------------------------------------


async def profile_cached(ctx: BenchContext) -> Scenario:
    """GET /v1/artists/{id} over a small hot set: after the warm-up every read is a Redis hit."""
    artists = await public_artists(ctx, HOT_PROFILES)
    viewers = await user_tokens(ctx, await artist_users(ctx, VIEWERS))
    specs = [
        RequestSpec("GET", ctx.url(f"/v1/artists/{artists[i % len(artists)]}"), bearer(token))
        for i, token in enumerate(viewers * 2)
    ]
    return Scenario("profile_cached", f"profile view, {len(artists)} hot artists", specs)


async def profile_uncached(ctx: BenchContext) -> Scenario:
    """GET /v1/artists/{id}, each request another artist, their cached copies dropped first."""
    planned = planned_requests(ctx)
    artists = await public_artists(ctx, planned)
    viewers = await user_tokens(ctx, await artist_users(ctx, VIEWERS))
    notes: list[str] = []
    if ctx.redis is not None:
        # Earlier scenarios (or a previous bench) may have cached them: start cold.
        for start in range(0, len(artists), 500):
            await ctx.redis.delete(*[f"profile:{a}" for a in artists[start : start + 500]])
    else:
        notes.append("redis not reachable from the bench: profiles may be cached already")
    if len(artists) < planned:
        notes.append(
            f"only {len(artists)} public artists for {planned} requests: repeats are cache hits"
        )
    specs = [
        RequestSpec("GET", ctx.url(f"/v1/artists/{artist}"), bearer(viewers[i % len(viewers)]))
        for i, artist in enumerate(artists)
    ]
    return Scenario("profile_uncached", f"profile view, {len(artists)} artists", specs, notes)


# -- gigs --------------------------------------------------------------------------------


async def _gig_filters(ctx: BenchContext) -> list[list[tuple[str, str]]]:
    """Filter combinations a user would pick: cities and genres that have open gigs, dates."""
    today = date.today()
    cities = await ctx.pool.fetch(
        "SELECT city, count(*) AS n FROM gigs WHERE status = 'open' AND date >= $1"
        " GROUP BY city ORDER BY n DESC LIMIT 8",
        today,
    )
    genres = await ctx.pool.fetch(
        "SELECT genre, count(*) AS n FROM gigs WHERE status = 'open' AND date >= $1"
        " AND genre IS NOT NULL GROUP BY genre ORDER BY n DESC LIMIT 8",
        today,
    )
    if not cities:
        raise BenchSetupError("no open gig from today on: load a dataset or the demo seed")
    windows = [
        (today, today + timedelta(days=7)),
        (today, today + timedelta(days=30)),
        (today + timedelta(days=14), today + timedelta(days=90)),
    ]
    combos: list[list[tuple[str, str]]] = [[]]
    for i, city in enumerate(cities):
        window = windows[i % len(windows)]
        combos.append([("city", city["city"])])
        combos.append(
            [("city", city["city"]), ("date_from", str(window[0])), ("date_to", str(window[1]))]
        )
    for i, genre in enumerate(genres):
        window = windows[i % len(windows)]
        combos.append([("genre", genre["genre"])])
        combos.append([("genre", genre["genre"]), ("date_from", str(window[0]))])
        if cities:
            combos.append([("city", cities[i % len(cities)]["city"]), ("genre", genre["genre"])])
    for window in windows:
        combos.append([("date_from", str(window[0])), ("date_to", str(window[1]))])
    return combos[:GIG_FILTER_COMBOS]


async def gig_browse(ctx: BenchContext) -> Scenario:
    """GET /v1/gigs with city/genre/date filters, then up to 3 pages along `next_cursor`.

    The cursors are collected once during setup (they carry the shuffle seed and are
    signed, so replaying one asks for the same page again, as a client scrolling would).
    """
    tokens = await user_tokens(ctx, await artist_users(ctx, VIEWERS))
    specs: list[RequestSpec] = []
    pages = 0
    for i, combo in enumerate(await _gig_filters(ctx)):
        token = tokens[i % len(tokens)]
        query: list[tuple[str, str]] = [*combo, ("limit", str(GIG_PAGE_LIMIT))]
        for _ in range(GIG_PAGES):
            url = ctx.url("/v1/gigs", query)
            status, _, payload = await ctx.setup_request("GET", url, token=token)
            if status != 200:
                raise BenchSetupError(f"GET {url} answered {status}: {payload}")
            specs.append(RequestSpec("GET", url, bearer(token)))
            pages += 1
            cursor = payload["data"].get("next_cursor")
            if not cursor:
                break
            query = [*combo, ("limit", str(GIG_PAGE_LIMIT)), ("cursor", cursor)]
    return Scenario("gig_browse", f"gig browse, {pages} pages of filtered scrolls", specs)


# -- search ------------------------------------------------------------------------------


def _typo(word: str) -> str:
    """A near miss ("jonny cahs"): two inner letters swapped."""
    if len(word) < 4:
        return word
    middle = len(word) // 2
    return word[: middle - 1] + word[middle] + word[middle - 1] + word[middle + 1 :]


async def search(ctx: BenchContext) -> Scenario:
    """GET /v1/search?q=… from stage names, gig titles and cities: whole, partial, misspelt."""
    rows = await ctx.pool.fetch(
        "(SELECT stage_name AS text FROM artists ORDER BY random() LIMIT 100)"
        " UNION ALL (SELECT title FROM gigs ORDER BY random() LIMIT 60)"
        " UNION ALL (SELECT DISTINCT city FROM gigs LIMIT 20)"
    )
    texts = [row["text"] for row in rows if row["text"]]
    if not texts:
        raise BenchSetupError("nothing to search for")
    queries: list[tuple[str, str | None]] = []
    kinds: tuple[str | None, ...] = (None, "artists", "gigs")
    for i, text in enumerate(texts):
        first = text.split()[0]
        queries.append((text, kinds[i % 3]))
        queries.append((first.lower(), None))
        queries.append((_typo(text.lower()), kinds[(i + 1) % 3]))
    queries = list(dict.fromkeys(queries))
    tokens = await user_tokens(ctx, await artist_users(ctx, VIEWERS))
    specs = []
    for i, (text, kind) in enumerate(queries):
        query: dict[str, str] = {"q": text[:200]}
        if kind is not None:
            query["type"] = kind
        specs.append(
            RequestSpec("GET", ctx.url("/v1/search", query), bearer(tokens[i % len(tokens)]))
        )
    return Scenario(
        "search",
        f"search, {len(queries)} distinct queries",
        specs,
        ["results are cached 15 minutes per query: repeats after the first are Redis hits"],
    )


# -- messaging ---------------------------------------------------------------------------


async def conversations(ctx: BenchContext, wanted: int) -> list[tuple[UUID, UUID, UUID]]:
    """(conversation, participant 1, participant 2): existing ones, more started if few."""
    rows = await ctx.pool.fetch(
        "SELECT id, participant_1_id, participant_2_id FROM conversations"
        " ORDER BY random() LIMIT $1",
        wanted,
    )
    found = [(r["id"], r["participant_1_id"], r["participant_2_id"]) for r in rows]
    if len(found) >= min(wanted, 20):
        return found
    # Too few to spread the sends (each locks its conversation row): start some, through
    # the api, between artists and venues that have none yet.
    users = await ctx.pool.fetch(
        "SELECT id, role FROM users WHERE onboarding_complete AND role IN ('artist', 'venue')"
        " ORDER BY random() LIMIT 60"
    )
    existing = {frozenset((p1, p2)) for _, p1, p2 in found}
    ids = [row["id"] for row in users]
    tokens = await ctx.minter.tokens_for(ids)
    for i, starter in enumerate(ids):
        for other in ids[i + 1 :]:
            if len(found) >= wanted or frozenset((starter, other)) in existing:
                continue
            status, _, payload = await ctx.setup_request(
                "POST", "/v1/conversations", token=tokens[starter], body={"user_id": str(other)}
            )
            if status not in (200, 201):
                continue
            p1, p2 = sorted((starter, other), key=str)
            found.append((UUID(payload["data"]["id"]), p1, p2))
            existing.add(frozenset((starter, other)))
        if len(found) >= wanted:
            break
    if not found:
        raise BenchSetupError("no conversation and none could be started")
    return found


async def _poll_state(ctx: BenchContext, token: str) -> tuple[str, str]:
    """A client's poll state as docs/messaging.md says: `since` of the first load, then the
    ETag of the `?since=` URL."""
    status, _, payload = await ctx.setup_request("GET", "/v1/conversations", token=token)
    if status != 200:
        raise BenchSetupError(f"GET /v1/conversations answered {status}")
    since = payload["data"]["since"]
    status, headers, _ = await ctx.setup_request(
        "GET", ctx.url("/v1/conversations", {"since": since}), token=token
    )
    if status != 200:
        raise BenchSetupError(f"GET /v1/conversations?since= answered {status}")
    return since, headers["ETag"]


async def poll_idle(ctx: BenchContext) -> Scenario:
    """The inbox poll with `since` and `If-None-Match` of an unchanged inbox: 304, no query."""
    rows = await ctx.pool.fetch(
        "SELECT id FROM users WHERE onboarding_complete AND role IN ('artist', 'venue')"
        " ORDER BY random() LIMIT $1",
        POLLERS,
    )
    tokens = await user_tokens(ctx, [row["id"] for row in rows])
    specs = []
    for token in tokens:
        since, etag = await _poll_state(ctx, token)
        specs.append(
            RequestSpec(
                "GET",
                ctx.url("/v1/conversations", {"since": since}),
                bearer(token, **{"If-None-Match": etag}),
            )
        )
    return Scenario(
        "poll_idle",
        f"inbox poll, nothing new, {len(specs)} users",
        specs,
        ["a 200 instead of 304 (an inbox that changed, a half-hour ETag turn) is not an error"],
    )


async def poll_active(ctx: BenchContext) -> Scenario:
    """The inbox poll of users who got a message since their `since`: 200 with the changes."""
    found = await conversations(ctx, POLLERS)
    tokens = await ctx.minter.tokens_for([p for _, p1, p2 in found for p in (p1, p2)])
    specs = []
    polled: set[UUID] = set()
    for conversation_id, p1, p2 in found:
        if p1 in polled:
            continue
        polled.add(p1)
        since, etag = await _poll_state(ctx, tokens[p1])
        status, _, _ = await ctx.setup_request(
            "POST",
            f"/v1/conversations/{conversation_id}/messages",
            token=tokens[p2],
            body={"content": "bench: something new"},
        )
        if status != 201:
            raise BenchSetupError(f"sending a setup message answered {status}")
        # The stale ETag is sent as a real client would: it no longer matches.
        specs.append(
            RequestSpec(
                "GET",
                ctx.url("/v1/conversations", {"since": since}),
                bearer(tokens[p1], **{"If-None-Match": etag}),
            )
        )
    return Scenario("poll_active", f"inbox poll with changes, {len(specs)} users", specs)


async def send_message(ctx: BenchContext) -> Scenario:
    """POST /v1/conversations/{id}/messages, each side in turn, across many conversations."""
    found = await conversations(ctx, CONVERSATIONS)
    tokens = await ctx.minter.tokens_for([p for _, p1, p2 in found for p in (p1, p2)])
    specs = []
    for i in range(min(planned_requests(ctx), 5000)):
        conversation_id, p1, p2 = found[i % len(found)]
        sender = p1 if (i // len(found)) % 2 == 0 else p2
        body = json.dumps({"content": f"bench message {i}: see you at soundcheck"}).encode()
        specs.append(
            RequestSpec(
                "POST",
                ctx.url(f"/v1/conversations/{conversation_id}/messages"),
                bearer(tokens[sender], **JSON_HEADERS),
                body,
            )
        )
    return Scenario("send_message", f"send message, {len(found)} conversations", specs)


# -- applications ------------------------------------------------------------------------


async def apply(ctx: BenchContext) -> Scenario:
    """POST /v1/gigs/{id}/apply: every request a new (artist, open gig) pair, so each is a 201."""
    planned = planned_requests(ctx)
    artists = await ctx.pool.fetch(
        "SELECT a.id, a.user_id FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE u.onboarding_complete AND u.role = 'artist' ORDER BY random() LIMIT $1",
        min(planned, 2000),
    )
    gigs = await ctx.pool.fetch(
        "SELECT id, date FROM gigs WHERE status = 'open' AND date >= $1"
        " AND filled_slots < capacity ORDER BY random() LIMIT 500",
        date.today(),
    )
    if not artists or not gigs:
        raise BenchSetupError("no onboarded artist or no open gig to apply to")
    artist_ids = [row["id"] for row in artists]
    taken = {
        (row["artist_id"], row["gig_id"])
        for row in await ctx.pool.fetch(
            "SELECT artist_id, gig_id FROM gig_applications"
            " WHERE artist_id = ANY($1::uuid[]) AND gig_id = ANY($2::uuid[])",
            artist_ids,
            [row["id"] for row in gigs],
        )
    }
    # Applying on a day the artist is booked (at an overlapping time) or marked unavailable
    # is refused (409): such pairs are left out, by whole days and the day either side.
    busy: dict[UUID, set[date]] = {}
    for row in await ctx.pool.fetch(
        "SELECT oa.artist_id, d::date AS day FROM gig_applications oa"
        " JOIN gigs og ON og.id = oa.gig_id,"
        " generate_series(og.date - 1, og.date + 1, interval '1 day') AS d"
        " WHERE oa.artist_id = ANY($1::uuid[]) AND oa.status = 'accepted'"
        " AND og.status <> 'cancelled' AND og.date >= $2::date - 1"
        " UNION ALL SELECT u.artist_id, d::date FROM artist_unavailability u,"
        " generate_series(u.starts_on, u.ends_on, interval '1 day') AS d"
        " WHERE u.artist_id = ANY($1::uuid[]) AND u.ends_on >= $2",
        artist_ids,
        date.today(),
    ):
        busy.setdefault(row["artist_id"], set()).add(row["day"])
    pairs: list[tuple[UUID, UUID]] = []
    # Diagonal walk: consecutive requests hit different gigs and different artists.
    for offset in range(len(gigs)):
        for i, artist in enumerate(artists):
            gig = gigs[(i + offset) % len(gigs)]
            free = gig["date"] not in busy.get(artist["id"], ())
            if free and (artist["id"], gig["id"]) not in taken:
                pairs.append((artist["user_id"], gig["id"]))
            if len(pairs) >= planned:
                break
        if len(pairs) >= planned:
            break
    if not pairs:
        raise BenchSetupError("every artist already applied to every open gig")
    tokens = await ctx.minter.tokens_for([user for user, _ in pairs])
    body = json.dumps({"message": "Hi! We would love to play this one."}).encode()
    specs = [
        RequestSpec(
            "POST", ctx.url(f"/v1/gigs/{gig}/apply"), bearer(tokens[user], **JSON_HEADERS), body
        )
        for user, gig in pairs
    ]
    notes = []
    if len(pairs) < planned:
        notes.append(
            f"only {len(pairs)} new (artist, gig) pairs for {planned} requests: the rest are"
            " retries, answered 200 with the application already made"
        )
    return Scenario("apply", f"apply to a gig, {len(pairs)} new pairs", specs, notes)


# -- the mix -----------------------------------------------------------------------------


async def mixed(ctx: BenchContext) -> Scenario:
    """The scenarios above interleaved by MIX_WEIGHTS (smooth weighted round-robin)."""
    planned = planned_requests(ctx)
    parts: dict[str, list[RequestSpec]] = {}
    notes: list[str] = []
    for name, weight in MIX_WEIGHTS.items():
        share = int(planned * weight / sum(MIX_WEIGHTS.values())) + 1
        ctx_part = BenchContext(ctx.base_url, ctx.pool, ctx.http, ctx.minter, ctx.redis, share)
        try:
            part = await BUILDERS[name](ctx_part)
        except BenchSetupError as error:
            # A small database runs out of new apply pairs: the rest of the mix still runs.
            notes.append(f"{name} left out of the mix: {error}")
            continue
        parts[name] = part.specs
        notes.extend(f"{name}: {note}" for note in part.notes)
    weights = {name: MIX_WEIGHTS[name] for name in parts}
    credit = dict.fromkeys(weights, 0)
    used = dict.fromkeys(weights, 0)
    specs = []
    total = sum(weights.values())
    for _ in range(planned):
        for name, weight in weights.items():
            credit[name] += weight
        chosen = max(credit, key=lambda name: credit[name])
        credit[chosen] -= total
        chosen_specs = parts[chosen]
        specs.append(chosen_specs[used[chosen] % len(chosen_specs)])
        used[chosen] += 1
    mix = ", ".join(f"{name} {weight}" for name, weight in weights.items())
    return Scenario("mixed", f"weighted mix ({mix})", specs, notes)


BUILDERS: dict[str, Builder] = {
    "profile_cached": profile_cached,
    "profile_uncached": profile_uncached,
    "gig_browse": gig_browse,
    "search": search,
    "poll_idle": poll_idle,
    "poll_active": poll_active,
    "send_message": send_message,
    "apply": apply,
    "mixed": mixed,
}
