"""The bench's targets that are not request rates: a cron job and a broadcast, end to end.

- `analytics-daily` runs as `umbrella cron analytics-daily` does in production: its own
  process against the bench's database, timed from spawn to exit (interpreter start
  included, so the verdict errs on the safe side); the job's own time comes from `cron_runs`.
- The email broadcast goes through the api as its artist (`POST /v1/broadcast`) and is
  timed from that POST to the arrival, at the fake Resend, of the batch that completes it:
  the api, the job queue, the worker's claims and marks, and the provider calls, all in.
- The gig-browse ratio needs no run of its own: `load_browse_baseline` reads the JSON of a
  gig_browse run on 10,000 gigs, and `report.browse_ratio` compares this run's p95 with it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from tests.fakes.resend import FakeResend, key_group
from umbrella.broadcasts.delivery import batch_key
from umbrella_bench import report
from umbrella_bench.context import JSON_HEADERS, SessionMinter, bearer

ANALYTICS_JOB = "analytics-daily"
# Ten times the target: a run that slow has failed anyway, and the bench must end.
ANALYTICS_TIMEOUT_SECONDS = 600.0
BROADCAST_TIMEOUT_SECONDS = 150.0
# After the last email: how long the worker may take to mark the broadcast sent.
BROADCAST_SETTLE_SECONDS = 10.0
POLL_SECONDS = 0.01
BROADCAST_SUBJECT = "New dates are out"
BROADCAST_BODY = (
    "We are on the road again this spring: twelve cities, two new songs and a few surprises."
    " Tickets go on sale Friday at 10am. See you at the front!"
)


class BaselineError(ValueError):
    """The browse baseline file is missing, unreadable or has no gig_browse row."""


def load_browse_baseline(path: Path) -> dict[str, Any]:
    """The gig_browse row of an earlier bench's JSON (with its gig count), checked early."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BaselineError(f"cannot read the browse baseline {path}: {error}") from None
    row = report.baseline_browse(document) if isinstance(document, dict) else None
    if row is None:
        raise BaselineError(f"{path} has no gig_browse result: run the baseline with it")
    if row.get("p95_ms") is None:
        raise BaselineError(f"{path}: the gig_browse baseline has no p95")
    return row


# -- analytics-daily ------------------------------------------------------------------------


async def _analytics_inputs(pool: asyncpg.Pool, day: Any) -> dict[str, int]:
    """What the job aggregates for `day`: it reads every artist, whatever the activity."""
    start = datetime.combine(day, clock(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM artists WHERE created_at < $2) AS artists,"
        " (SELECT count(*) FROM artist_followers WHERE created_at < $2) AS followers,"
        " (SELECT count(*) FROM gigs WHERE status = 'completed' AND completed_at >= $1"
        "  AND completed_at < $2) AS completed_gigs,"
        " (SELECT count(*) FROM profile_view_counts WHERE date = $3) AS view_rows,"
        " (SELECT count(*) FROM track_play_counts WHERE date = $3) AS play_rows",
        start,
        end,
        day,
    )
    return {key: int(value) for key, value in dict(row or {}).items()}


async def run_analytics(
    *, env: Mapping[str, str], pool: asyncpg.Pool, log_path: Path
) -> report.Check:
    """Run `umbrella cron analytics-daily` for yesterday (as at midnight) and time it."""
    name = "analytics_daily"
    # D-008: the job at midnight aggregates the day that just ended; named here to report it.
    day = datetime.now(UTC).date() - timedelta(days=1)
    inputs = await _analytics_inputs(pool, day)
    command = [sys.executable, "-m", "umbrella", "cron", ANALYTICS_JOB, "--date", day.isoformat()]
    reasons: list[str] = []
    with log_path.open("ab") as log_file:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), ANALYTICS_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
            out = b""
            reasons.append(f"no exit within {ANALYTICS_TIMEOUT_SECONDS:.0f} s")
        seconds = time.perf_counter() - started
    if process.returncode != 0 and not reasons:
        reasons.append(f"exit {process.returncode} (see {log_path})")
    lines = out.decode(errors="replace").splitlines()
    # Its stdout also carries the JSON log lines: the summary is the line the CLI prints.
    summary = next(
        (
            line.removeprefix(f"{ANALYTICS_JOB}: ")
            for line in lines
            if line.startswith(ANALYTICS_JOB)
        ),
        "",
    )
    with log_path.open("a") as log_file:
        log_file.write("\n".join(lines) + "\n")
    job = await pool.fetchrow(
        "SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds, outcome"
        " FROM cron_runs WHERE job = $1 ORDER BY started_at DESC LIMIT 1",
        ANALYTICS_JOB,
    )
    job_seconds = job["seconds"] if job is not None else None
    measured = f"{seconds:.1f} s" + (f" (job {job_seconds:.1f} s)" if job_seconds else "")
    detail = (
        f"{day}: {inputs['artists']:,} artists, {inputs['followers']:,} followers,"
        f" {inputs['completed_gigs']:,} gigs completed that day, {inputs['view_rows']:,}"
        f" profile-view and {inputs['play_rows']:,} play rows; {summary or 'no summary'}"
    )
    data = {
        "day": day.isoformat(),
        "process_seconds": round(seconds, 3),
        "job_seconds": None if job_seconds is None else round(job_seconds, 3),
        "inputs": inputs,
        "summary": summary,
        "method": "`umbrella cron analytics-daily --date <yesterday>` as a subprocess, "
        "spawn to exit (verdict on this); job seconds from cron_runs",
    }
    return report.seconds_check(
        name, seconds, reasons=reasons, measured=measured, detail=detail, data=data
    )


# -- the email broadcast --------------------------------------------------------------------


async def _fan_list(pool: asyncpg.Pool) -> asyncpg.Record | None:
    """The contact list with the most opted-in email members, and its artist's user."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT m.list_id, a.user_id, count(*) AS members FROM contact_list_members m"
        " JOIN contact_lists l ON l.id = m.list_id JOIN artists a ON a.id = l.artist_id"
        " WHERE m.email_opt_in AND m.email IS NOT NULL"
        " GROUP BY m.list_id, a.user_id ORDER BY members DESC LIMIT 1"
    )
    return row


async def _broadcast_state(pool: asyncpg.Pool, broadcast_id: UUID) -> tuple[str, dict[str, int]]:
    status = await pool.fetchval(
        "SELECT status FROM broadcast_messages WHERE id = $1", broadcast_id
    )
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM broadcast_deliveries WHERE broadcast_id = $1"
        " GROUP BY status",
        broadcast_id,
    )
    return str(status), {row["status"]: int(row["n"]) for row in rows}


async def measure_broadcast(
    *,
    base_url: str,
    pool: asyncpg.Pool,
    http: aiohttp.ClientSession,
    minter: SessionMinter,
    fake: FakeResend,
    wait_seconds: float = BROADCAST_TIMEOUT_SECONDS,
) -> report.Check:
    """POST an email broadcast to the biggest fan list; time it until the fake has it all."""
    name = "broadcast_email"
    fans = await _fan_list(pool)
    if fans is None:
        return report.Check(
            name,
            "-",
            report.not_run(name, "").limit,
            "skipped: no contact list with opted-in email members (load the dataset with fans)",
        )
    token = (await minter.tokens_for([fans["user_id"]]))[fans["user_id"]]
    body = {
        "list_ids": [str(fans["list_id"])],
        "channels": "email",
        "subject": BROADCAST_SUBJECT,
        "body": BROADCAST_BODY,
    }
    started = time.perf_counter()
    async with http.post(
        f"{base_url}/v1/broadcast",
        data=json.dumps(body).encode(),
        headers=bearer(token, **JSON_HEADERS),
    ) as response:
        status = response.status
        payload = await response.json(content_type=None)
    accepted = time.perf_counter() - started
    if status != 201:
        code = (payload or {}).get("error", {}).get("code") if isinstance(payload, dict) else None
        return report.seconds_check(
            name, None, reasons=[f"POST /v1/broadcast answered {status} {code or ''}".strip()]
        )
    created = payload["data"]
    broadcast_id = UUID(created["id"])
    expected = int(created["recipient_count"])
    # The engine's own key format, so a change there shows here as a missing tally.
    tally = fake.tally(key_group(batch_key(broadcast_id, [])))
    deadline = started + wait_seconds
    # Polled: the tally is written by the fake's own thread and event loop.
    while tally.emails < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)
    complete = tally.emails >= expected and tally.last_at is not None
    seconds = (tally.last_at - started) if complete and tally.last_at is not None else None
    # The worker marks the broadcast sent right after the last answer: give it a moment.
    settle = time.perf_counter() + BROADCAST_SETTLE_SECONDS
    state, counts = await _broadcast_state(pool, broadcast_id)
    while state == "sending" and complete and time.perf_counter() < settle:
        await asyncio.sleep(0.1)
        state, counts = await _broadcast_state(pool, broadcast_id)
    reasons: list[str] = []
    if not complete:
        reasons.append(f"{tally.emails:,} of {expected:,} emails within {wait_seconds:.0f} s")
    if tally.duplicates:
        reasons.append(f"{tally.duplicates} duplicates")
    if counts.get("failed"):
        reasons.append(f"{counts['failed']} failed")
    if expected < fans["members"]:
        reasons.append(f"{expected:,} recipients of {fans['members']:,} members")
    measured = "-" if seconds is None else f"{seconds:.1f} s"
    detail = (
        f"{tally.emails:,} emails to {len(tally.addresses):,} addresses in {tally.batches}"
        f" batches ({tally.replays} replays); POST answered in {accepted * 1000:.0f} ms;"
        f" broadcast {state}, deliveries "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )
    if expected != report.BROADCAST_RECIPIENTS:
        detail += f" (the target is for {report.BROADCAST_RECIPIENTS:,} recipients)"
    data = {
        "broadcast_id": str(broadcast_id),
        "recipients": expected,
        "list_members": int(fans["members"]),
        "seconds": None if seconds is None else round(seconds, 3),
        "post_ms": round(accepted * 1000, 1),
        "emails": tally.emails,
        "addresses": len(tally.addresses),
        "batches": tally.batches,
        "replays": tally.replays,
        "duplicates": tally.duplicates,
        "broadcast_status": state,
        "deliveries": counts,
        "method": "POST /v1/broadcast (email) as the list's artist, to the fake Resend"
        " receiving the batch that completes the broadcast",
    }
    return report.seconds_check(
        name, seconds, reasons=reasons, measured=measured, detail=detail, data=data
    )
