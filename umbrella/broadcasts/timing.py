"""When a broadcast delivery may be tried: SMS quiet hours, retries with jittered backoff, and
the claim lease after which a dead worker's rows are taken over (docs/broadcasts.md)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from umbrella.config import Settings

# SMS quiet hours (ours): texts go out from 08:00 to 21:00 in the recipient's zone, else
# the artist's, else UTC; a text due outside them waits for 08:00 (deferred, not dropped).
WINDOW_OPENS = time(8, 0)
WINDOW_CLOSES = time(21, 0)
DEFAULT_ZONE = "UTC"
# A retry waits between (1 - JITTER) and all of its backoff.
JITTER = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


def claim_lease(settings: Settings) -> timedelta:
    """How old a claim must be to belong to a dead worker: a live one marks its rows within
    one provider timeout (plus the limiter's short wait), so twice that is ample."""
    return timedelta(
        seconds=2 * max(settings.email_timeout_seconds, settings.sms_timeout_seconds) + 2
    )


def _backoff_seconds(settings: Settings, attempts: int) -> float:
    """The un-jittered wait after the n-th failed try: base, twice it, four times … capped."""
    exponent = min(max(attempts - 1, 0), 60)  # 2**60 times the base is past any cap
    backoff: float = settings.broadcast_retry_base_seconds * 2.0**exponent
    return min(backoff, settings.broadcast_retry_max_delay_seconds)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """The wait after the n-th failed try: the backoff with jitter (half to all of it), so
    the batches and texts of a provider outage do not all come back in the same second."""
    backoff = _backoff_seconds(settings, attempts)
    return timedelta(seconds=backoff * random.uniform(1 - JITTER, 1.0))  # noqa: S311


def delivery_attempts(settings: Settings) -> int:
    """Tries of one delivery before it fails: enough that even the shortest jittered waits
    add up to the retry horizon (an hour by default), so an outage that long is ridden out."""
    attempts, waited = 1, 0.0
    while waited < settings.broadcast_retry_horizon_seconds:
        waited += _backoff_seconds(settings, attempts) * (1 - JITTER)
        attempts += 1
    return attempts


def zone_of(name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name, or None when it is unset or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_until(now: datetime, zone: ZoneInfo) -> datetime | None:
    """None when a text may go at `now` in `zone`; else the UTC time the window next opens."""
    local = now.astimezone(zone)
    if WINDOW_OPENS <= local.time() < WINDOW_CLOSES:
        return None
    day = local.date() if local.time() < WINDOW_OPENS else local.date() + timedelta(days=1)
    return datetime.combine(day, WINDOW_OPENS, tzinfo=zone).astimezone(UTC)
