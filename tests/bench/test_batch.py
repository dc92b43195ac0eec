"""The bench's targets beyond latency: the fake Resend, the browse ratio, a broadcast, a cron."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from tests.broadcasts.audience import add_contacts, make_list
from tests.conftest import subprocess_env
from tests.factories import make_artist
from tests.fakes.resend import FakeResend, key_group
from tests.workers import in_process_worker
from umbrella.config import EmailBackend, Settings
from umbrella.seed import seed_demo
from umbrella_bench import batch, report
from umbrella_bench.arguments import DATASET_PRESETS, SCENARIOS
from umbrella_bench.context import SessionMinter
from umbrella_bench.fakes import running_in_thread
from umbrella_bench.load import LoadResult
from umbrella_bench.scenarios import BUILDERS

Client = TestClient[web.Request, web.Application]


def _email(n: int) -> dict[str, Any]:
    return {
        "from": "Luna Vega <no-reply@example.com>",
        "to": [f"fan{n}@example.com"],
        "subject": "Tour",
        "text": "New dates are out!",
        "headers": {"List-Unsubscribe": "<https://example.com/u>"},
    }


@pytest.fixture
async def fake() -> AsyncIterator[FakeResend]:
    server = FakeResend()
    await server.start()
    yield server
    await server.stop()


async def _post(
    http: aiohttp.ClientSession, fake: FakeResend, body: object, *, key: str, api_key: str = ""
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {api_key or fake.api_key}", "Idempotency-Key": key}
    async with http.post(f"{fake.url}/emails/batch", json=body, headers=headers) as response:
        return response.status, await response.json()


# -- the fake Resend -------------------------------------------------------------------------


async def test_the_fake_accepts_a_batch_counts_it_and_answers_a_replay_without_counting(
    fake: FakeResend,
) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await _post(http, fake, [_email(n) for n in range(100)], key="babc-1")
        assert status == 200
        assert len(body["data"]) == 100
        assert len({item["id"] for item in body["data"]}) == 100

        replay_status, replay = await _post(
            http, fake, [_email(n) for n in range(100)], key="babc-1"
        )
        assert (replay_status, replay) == (200, body)
        await _post(http, fake, [_email(n) for n in range(100, 150)], key="babc-2")

        conflict, error = await _post(http, fake, [_email(7)], key="babc-1")
        assert conflict == 409
        assert error["name"] == "invalid_idempotent_request"
        forbidden, _ = await _post(http, fake, [_email(1)], key="babc-3", api_key="re_wrong")
        assert forbidden == 403
        too_many, _ = await _post(http, fake, [_email(n) for n in range(101)], key="babc-4")
        assert too_many == 422

    tally = fake.tally("babc")
    assert (tally.emails, tally.batches, tally.replays, tally.duplicates) == (150, 2, 1, 0)
    assert tally.first_at is not None
    assert tally.last_at is not None
    assert tally.first_at <= tally.last_at
    assert len(fake.sent) == 150
    assert fake.tally("bother").emails == 0


async def test_the_fake_counts_an_address_sent_twice_as_a_duplicate(fake: FakeResend) -> None:
    async with aiohttp.ClientSession() as http:
        await _post(http, fake, [_email(1), _email(2)], key="bdup-1")
        await _post(http, fake, [_email(2)], key="bdup-2")  # a new key: a second send
    assert fake.tally(key_group("bdup-2")).duplicates == 1


async def test_the_fake_served_from_its_own_thread_answers_this_loop() -> None:
    with running_in_thread(FakeResend()) as threaded:
        async with aiohttp.ClientSession() as http:
            status, _ = await _post(http, threaded, [_email(1)], key="bthread-1")
        assert status == 200
        assert threaded.tally("bthread").emails == 1
        assert threaded.env()["UMBRELLA_RESEND_BASE_URL"] == threaded.url


# -- the browse ratio ------------------------------------------------------------------------


def _browse(p95: float | None, *, errors: int = 0, rate: float = 200) -> LoadResult:
    return LoadResult(
        name="gig_browse",
        target_rate=rate,
        duration=10,
        count=2000,
        achieved_rate=rate,
        errors={"timeout": errors} if errors else {},
        p50_ms=None if p95 is None else p95 / 2,
        p95_ms=p95,
        p99_ms=p95,
        max_ms=p95,
        send_lag_p99_ms=0.5,
    )


def _baseline_document(p95: float | None, *, errors: int = 0, gigs: int = 10_000) -> dict[str, Any]:
    row = _browse(p95, errors=errors).as_dict()
    return {"setup": {"dataset": {"gigs": gigs}}, "scenarios": [row]}


def test_the_ratio_verdict_is_ok_up_to_one_and_a_half_times_the_baseline() -> None:
    assert report.ratio_verdict(30.0, 20.0, 1.5) == (1.5, "ok")
    ratio, verdict = report.ratio_verdict(30.2, 20.0, 1.5)
    assert ratio == pytest.approx(1.51)
    assert verdict == "FAIL ratio"
    assert report.ratio_verdict(12.0, 20.0, 1.5) == (0.6, "ok")
    assert report.ratio_verdict(None, 20.0, 1.5) == (None, "FAIL no p95")
    assert report.ratio_verdict(10.0, 0.0, 1.5)[1].startswith("FAIL")


def test_the_browse_ratio_row_compares_the_runs_and_refuses_an_unfair_baseline() -> None:
    baseline = report.baseline_browse(_baseline_document(20.0))
    assert baseline is not None
    check = report.browse_ratio(_browse(28.0), baseline, current_gigs=1_000_000)
    assert (check.measured, check.limit, check.verdict) == ("1.40x", "≤ 1.50x", "ok")
    assert "28.0 ms at 1,000,000 gigs vs 20.0 ms at 10,000 gigs" in check.detail
    assert "the target compares" not in check.detail
    assert not check.failed

    assert report.browse_ratio(_browse(31.0), baseline, current_gigs=1_000_000).failed
    # A p95 under errors, or at another rate, is no point of comparison.
    errored = report.baseline_browse(_baseline_document(20.0, errors=3))
    assert errored is not None
    check = report.browse_ratio(_browse(21.0), errored, current_gigs=1_000_000)
    assert check.verdict == "FAIL baseline errors"
    check = report.browse_ratio(_browse(21.0, rate=100), baseline, current_gigs=1_000_000)
    assert check.verdict == "FAIL rates differ"
    check = report.browse_ratio(_browse(21.0, errors=1), baseline, current_gigs=1_000_000)
    assert check.verdict == "FAIL errors"
    # The sizes are shown, and said when they are not the target's.
    small = report.browse_ratio(_browse(21.0), baseline, current_gigs=10_000)
    assert "(the target compares 1,000,000 gigs with 10,000)" in small.detail
    assert report.browse_ratio(None, baseline, current_gigs=1).verdict.startswith("skipped")


def test_the_baseline_file_is_checked_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    with pytest.raises(batch.BaselineError, match="cannot read"):
        batch.load_browse_baseline(path)
    path.write_text(json.dumps({"scenarios": [{"scenario": "search", "p95_ms": 3.0}]}))
    with pytest.raises(batch.BaselineError, match="no gig_browse"):
        batch.load_browse_baseline(path)
    path.write_text(json.dumps(_baseline_document(18.5)))
    row = batch.load_browse_baseline(path)
    assert (row["p95_ms"], row["gigs"], row["target_rate"]) == (18.5, 10_000, 200)


def test_time_checks_fail_over_their_limit_and_not_run_rows_do_not_fail() -> None:
    assert report.seconds_check("broadcast_email", 14.9, reasons=[]).verdict == "ok"
    assert report.seconds_check("broadcast_email", 15.1, reasons=[]).verdict == "FAIL time"
    assert report.seconds_check("analytics_daily", 61, reasons=[]).failed
    assert report.seconds_check("analytics_daily", None, reasons=[]).verdict == "FAIL not measured"
    assert report.seconds_check("analytics_daily", 1, reasons=["exit 1"]).verdict == "FAIL exit 1"
    assert not report.not_run("broadcast_email", "--no-broadcast").failed
    table = report.checks_table([report.not_run("analytics_daily", "--no-analytics")])
    assert "analytics_daily | -        | ≤ 60 s" in table


def test_the_sizes_are_the_issues() -> None:
    assert DATASET_PRESETS["large"] == {
        "artists": 100_000,
        "gigs": 1_000_000,
        "messages": 1_000_000,
        "fans": 10_000,
    }
    assert DATASET_PRESETS["small"]["gigs"] == report.BROWSE_RATIO_GIGS[0]
    assert DATASET_PRESETS["large"]["gigs"] == report.BROWSE_RATIO_GIGS[1]


# -- against the real app --------------------------------------------------------------------


async def test_a_broadcast_is_timed_until_the_fake_has_every_email(
    settings: Settings, client: Client, fake: FakeResend
) -> None:
    _, artist_id = await make_artist(stage_name="Luna Vega")
    await add_contacts(await make_list(artist_id), range(0, 50))
    worker_settings = settings.model_copy(
        update={
            "email_backend": EmailBackend.RESEND,
            "resend_base_url": fake.url,
            "resend_api_key": SecretStr(fake.api_key),
        }
    )
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    minter = SessionMinter(pool)
    try:
        async with in_process_worker(worker_settings), aiohttp.ClientSession() as http:
            check = await batch.measure_broadcast(
                base_url=str(client.make_url("")).rstrip("/"),
                pool=pool,
                http=http,
                minter=minter,
                fake=fake,
                wait_seconds=30,
            )
    finally:
        await minter.revoke_all(None)
        await pool.close()
    assert check.verdict == "ok", check.detail
    assert check.data["recipients"] == 50
    assert (check.data["emails"], check.data["addresses"], check.data["batches"]) == (50, 50, 1)
    assert check.data["broadcast_status"] == "sent"
    assert check.data["deliveries"] == {"sent": 50}
    assert 0 < check.data["seconds"] < 30
    assert "(the target is for 10,000 recipients)" in check.detail


async def test_a_broadcast_without_a_fan_list_is_a_skip_that_fails(
    settings: Settings, client: Client, fake: FakeResend
) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with aiohttp.ClientSession() as http:
            check = await batch.measure_broadcast(
                base_url="http://127.0.0.1:1",
                pool=pool,
                http=http,
                minter=SessionMinter(pool),
                fake=fake,
            )
    finally:
        await pool.close()
    assert check.verdict.startswith("skipped: no contact list")
    assert check.failed


async def test_analytics_daily_runs_as_the_cron_does_and_is_timed(
    settings: Settings, tmp_path: Path
) -> None:
    await seed_demo(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        # The job aggregates yesterday: artists who joined today are not in it yet.
        await pool.execute("UPDATE artists SET created_at = now() - interval '2 days'")
        check = await batch.run_analytics(
            env=subprocess_env(settings), pool=pool, log_path=tmp_path / "analytics.log"
        )
    finally:
        await pool.close()
    assert check.verdict == "ok", check.detail
    artists = check.data["inputs"]["artists"]
    assert artists > 0
    assert check.data["summary"].startswith(f"wrote {artists} daily_metrics rows")
    assert 0 < check.data["job_seconds"] <= check.data["process_seconds"]
    assert "postgres connected" in (tmp_path / "analytics.log").read_text()


def test_the_command_line_names_every_scenario_in_its_order() -> None:
    # The parser lists them without importing the bench (umbrella_bench/arguments.py).
    assert tuple(BUILDERS) == SCENARIOS
