"""The bench's command line (`python -m umbrella_bench`), apart from the bench itself.

It imports nothing of the bench or the app, so `-h` answers at once and the scenario and
size lists can be read without loading them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DESCRIPTION = """The load benchmark: open-loop load on the api, judged against its targets.

Without `--url` the bench runs its own stack, like `umbrella dev --ports random`: embedded
Postgres, Redis and S3 in a temporary home on free ports, migrations, the dataset (or the
demo seed with `--demo-seed`), then `umbrella api` as one process and `umbrella worker`;
everything is stopped and deleted at the end (`--keep` keeps it).
With `--url` it loads an api already running; it then needs UMBRELLA_DATABASE_URL (and
UMBRELLA_REDIS_URL if it can) of that api, to pick targets and mint sessions.

Besides the latency rows it measures, with its own stack: `analytics-daily` over the
dataset's artists (a subprocess, as the cron runs it), and an email broadcast to the
dataset's fan list through the api and the worker to a fake Resend the bench serves (the
api and the worker send all their email there). With `--browse-baseline` (the JSON of a
gig_browse-only run on 10,000 gigs, `--size small`) it judges this run's gig_browse p95
against that baseline's: `make bench` runs both.

The bench never signs in (it mints its sessions in Postgres), so the sign-in limiter is not
in its way. Its own api allows 100,000 writes a minute per IP
(UMBRELLA_WRITE_RATE_LIMIT_PER_IP_PER_MINUTE), as every simulated client comes from
127.0.0.1; the per-user write limit stays as shipped. With --url, give the api the same.
"""
# The scenarios, in the order they run (umbrella_bench/scenarios.py builds each).
SCENARIOS = (
    "profile_cached",
    "profile_uncached",
    "gig_browse",
    "search",
    "poll_idle",
    "poll_active",
    "send_message",
    "apply",
    "mixed",
)
# Counts forwarded to the dataset (umbrella/dataset/size.py, DatasetSize).
DATASET_FLAGS = ("artists", "venues", "gigs", "conversations", "messages", "fans")
# Sizes of the bench dataset; "small" loads in seconds and is the default. "large" is the
# issue's dataset; "small" has the 10,000 gigs of the gig-browse baseline. Every size has
# the 10,000 fans of the broadcast target (a COPY of well under a second).
DATASET_PRESETS: dict[str, dict[str, int]] = {
    "small": {"artists": 2_000, "gigs": 10_000, "messages": 20_000, "fans": 10_000},
    "medium": {"artists": 20_000, "gigs": 100_000, "messages": 200_000, "fans": 10_000},
    "large": {"artists": 100_000, "gigs": 1_000_000, "messages": 1_000_000, "fans": 10_000},
}


def _rate(value: str) -> tuple[str, float]:
    name, sep, rate = value.partition("=")
    if not sep or name not in SCENARIOS:
        raise argparse.ArgumentTypeError(
            f"expected SCENARIO=N with SCENARIO one of {list(SCENARIOS)}"
        )
    try:
        number = float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {rate!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("a rate must be positive")
    return name, number


def build_parser() -> argparse.ArgumentParser:
    """The bench's options: where it runs, what it runs, how long, on which dataset."""
    bench = argparse.ArgumentParser(
        prog="python -m umbrella_bench",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--url", help="an api already running (default: the bench starts its own)")
    bench.add_argument(
        "--database-url",
        default=os.environ.get("UMBRELLA_DATABASE_URL"),
        help="with --url: the api's Postgres (default UMBRELLA_DATABASE_URL)",
    )
    bench.add_argument(
        "--redis-url",
        default=os.environ.get("UMBRELLA_REDIS_URL"),
        help="with --url: the api's Redis (default UMBRELLA_REDIS_URL; optional)",
    )
    bench.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run only this scenario (repeatable; default: all, in the order listed)",
    )
    bench.add_argument("--duration", type=float, default=10.0, help="measured seconds (10)")
    bench.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (2)")
    bench.add_argument(
        "--rate",
        action="append",
        type=_rate,
        default=[],
        metavar="SCENARIO=N",
        help="requests per second of a scenario (repeatable), e.g. --rate search=50",
    )
    bench.add_argument("--json", type=Path, help="also write the results as JSON here")
    bench.add_argument(
        "--workers",
        type=int,
        default=32,
        help="closed-loop workers of the saturation runs, ours and the floor's (32)",
    )
    bench.add_argument(
        "--saturation-duration", type=float, default=5.0, help="seconds of each saturation run (5)"
    )
    bench.add_argument("--no-floor", action="store_true", help="skip the saturation runs")
    bench.add_argument(
        "--no-analytics", action="store_true", help="skip the analytics-daily run (own stack)"
    )
    bench.add_argument(
        "--no-broadcast",
        action="store_true",
        help="skip the email broadcast (own stack; without it email goes to the console)",
    )
    bench.add_argument(
        "--browse-baseline",
        type=Path,
        metavar="JSON",
        help="results (--json) of a gig_browse run on 10,000 gigs: judge this run's p95"
        " against it (target ≤ 1.5x)",
    )
    bench.add_argument("--keep", action="store_true", help="keep the bench stack's home")
    bench.add_argument(
        "--size",
        choices=list(DATASET_PRESETS),
        default="small",
        help="dataset size (default small): "
        + "; ".join(f"{k} {v}" for k, v in DATASET_PRESETS.items()),
    )
    bench.add_argument(
        "--demo-seed",
        action="store_true",
        help="use the small demo seed instead of a dataset",
    )
    for name in DATASET_FLAGS:
        bench.add_argument(f"--{name}", type=int, help=f"dataset: number of {name}")
    return bench
