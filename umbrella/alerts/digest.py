"""The daily digest of gig alerts: one email per artist with the new gigs matching any alert.

Exactly once a day per artist, however often the job runs: each artist's digest is one
transaction that first moves `gig_alert_digests.last_day` to today (a second run finds it
there and skips the artist), records every gig it tells of in `gig_alert_sends` (never the
same gig twice to one artist, even when two alerts match it or a gig matches again later),
and queues the notification (notify_user: the job pipeline sends it, preferences apply).
A day with no new match updates the artist's digest state and sends nothing.

"New" means posted after the artist's last digest looked (`last_cutoff`) and after the
alert was made: an alert announces what comes, not the marketplace as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from umbrella.alerts.service import stored_filters, unsubscribe_url
from umbrella.config import Settings
from umbrella.core import db
from umbrella.gigs import browse
from umbrella.gigs import service as gigs
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import (
    AlertGigPayload,
    AlertLinkPayload,
    Channel,
    GigAlertsPayload,
)
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

# Gigs listed in one email; further matches are counted ("…and 12 more") and recorded.
DIGEST_GIGS = 20
# New gigs one alert may match in a day before the rest are left for the browse page.
PER_ALERT = 50
# Artists read per statement while walking the due ones.
BATCH = 200


@dataclass(frozen=True)
class DigestReport:
    artists: int = 0  # artists whose digest ran today (sent or found nothing)
    digests: int = 0  # digests queued: one email each (the artist's settings permitting)
    texted: int = 0  # digests that also go by text (an urgent gig, an alert asking for it)


def pay_of(gig: dict[str, Any]) -> str:
    """A gig's pay as a reader sees it: "$250.00 flat", "$40.00 an hour", "negotiable"."""
    amount: Decimal | None = gig["payment_amount"]
    kind = gig["payment_type"]
    if amount is None:
        return "negotiable"
    shown = f"${amount.quantize(Decimal('0.01')):,}"
    return {"flat": f"{shown} flat", "hourly": f"{shown} an hour"}.get(kind, f"{shown}, negotiable")


@dataclass
class _Match:
    gig: dict[str, Any]
    alerts: list[str] = field(default_factory=list)
    texted: bool = False


async def send_digests(*, settings: Settings, now: datetime | None = None) -> DigestReport:
    """Every due artist's digest for today (UTC); what was sent.

    One artist's failure (rolled back, so it is retried by the next run) does not keep the
    others from theirs: the job fails at the end, naming how many failed.
    """
    now = now or datetime.now(UTC)
    day = now.date()
    report = DigestReport()
    failed = 0
    after = UUID(int=0)
    while True:
        # A walk by artist id, so an artist whose digest failed is not met again this run.
        due = await db.fetch(
            "SELECT DISTINCT a.artist_id FROM gig_alerts a"
            " LEFT JOIN gig_alert_digests d ON d.artist_id = a.artist_id"
            " WHERE a.active AND (d.last_day IS NULL OR d.last_day < $1) AND a.artist_id > $2"
            " ORDER BY a.artist_id LIMIT $3",
            day,
            after,
            BATCH,
        )
        if not due:
            break
        after = due[-1]["artist_id"]
        for row in due:
            try:
                texts = await _digest(settings, artist_id=row["artist_id"], now=now, day=day)
            except Exception:
                log.exception("gig alerts digest failed", extra={"artist_id": row["artist_id"]})
                failed += 1
                continue
            report = DigestReport(
                artists=report.artists + 1,
                digests=report.digests + (texts is not None),
                texted=report.texted + bool(texts),
            )
    if failed:
        raise RuntimeError(
            f"{failed} gig alerts digests failed (see the log); {report.digests} were sent"
        )
    return report


async def _digest(settings: Settings, *, artist_id: UUID, now: datetime, day: date) -> int | None:
    """One artist's digest of `day`: None when nothing was sent, else 1 if it goes by text."""
    async with DB.transaction():
        sent = await _digest_in_transaction(settings, artist_id=artist_id, now=now, day=day)
    return sent


async def _digest_in_transaction(
    settings: Settings, *, artist_id: UUID, now: datetime, day: date
) -> int | None:
    # Today's digest is claimed first; another run that did it already leaves no row.
    before = await db.fetch(
        "SELECT last_cutoff FROM gig_alert_digests WHERE artist_id = $1 FOR UPDATE",
        artist_id,
    )
    claimed = await db.fetch(
        "INSERT INTO gig_alert_digests AS d (artist_id, last_day, last_cutoff)"
        " VALUES ($1, $2, $3) ON CONFLICT (artist_id) DO UPDATE"
        " SET last_day = excluded.last_day, last_cutoff = excluded.last_cutoff"
        " WHERE d.last_day < excluded.last_day RETURNING d.artist_id",
        artist_id,
        day,
        now,
    )
    if not claimed:
        return None
    since: datetime | None = before[0]["last_cutoff"] if before else None
    alerts = await db.fetch(
        "SELECT id, name, filters, text_urgent, created_at FROM gig_alerts"
        " WHERE artist_id = $1 AND active ORDER BY created_at, id",
        artist_id,
    )
    matches = await _matches(alerts, since=since, now=now, day=day)
    if not matches:
        return None
    # Only the gigs never sent to this artist come back: the record is the exactly-once.
    recorded = await db.fetch(
        "INSERT INTO gig_alert_sends (artist_id, gig_id, sent_at)"
        " SELECT $1, unnest($2::uuid[]), $3"
        " ON CONFLICT ON CONSTRAINT gig_alert_sends_artist_id_gig_id_key DO NOTHING"
        " RETURNING gig_id",
        artist_id,
        list(matches),
        now,
    )
    new = [matches[row["gig_id"]] for row in recorded]
    if not new:
        return None
    return await _notify(settings, artist_id=artist_id, matches=new, alerts=alerts)


async def _matches(
    alerts: list[dict[str, Any]], *, since: datetime | None, now: datetime, day: date
) -> dict[UUID, _Match]:
    """The new gigs matching any alert, each once, with the names of the alerts it matched."""
    found: dict[UUID, _Match] = {}
    for alert in alerts:
        after = alert["created_at"] if since is None else max(since, alert["created_at"])
        gigs_found = await browse.new_matching_gigs(
            stored_filters(alert["filters"]).gig_filters(),
            on=day,
            after=after,
            until=now,
            limit=PER_ALERT,
        )
        for gig in gigs_found:
            match = found.setdefault(gig["id"], _Match(gig=gig))
            match.alerts.append(alert["name"])
            match.texted = match.texted or (alert["text_urgent"] and gig["urgency_flag"])
    return found


async def _notify(
    settings: Settings, *, artist_id: UUID, matches: list[_Match], alerts: list[dict[str, Any]]
) -> int:
    """Queue the digest email (and a text when an urgent gig asks for one); 1 if texted."""
    # Urgent gigs first: they are the soonest to go.
    matches.sort(key=lambda m: (not m.gig["urgency_flag"], m.gig["date"], str(m.gig["id"])))
    shown = matches[:DIGEST_GIGS]
    artist = await db.fetch("SELECT user_id, stage_name FROM artists WHERE id = $1", artist_id)
    if not artist:
        return 0
    payload = GigAlertsPayload(
        artist_name=artist[0]["stage_name"],
        gigs=[
            AlertGigPayload(
                title=m.gig["title"],
                venue_name=m.gig["venue_name"],
                when=gigs.when(m.gig),
                place=f"{m.gig['city']}, {m.gig['state']}",
                pay=pay_of(m.gig),
                url=gigs.gig_url(settings, m.gig["id"]),
                urgent=m.gig["urgency_flag"],
                texted=m.texted,
                alerts=m.alerts,
            )
            for m in shown
        ],
        more=len(matches) - len(shown),
        browse_url=f"{settings.app_url.rstrip('/')}/gigs",
        alerts=[
            AlertLinkPayload(
                name=alert["name"], unsubscribe_url=unsubscribe_url(settings, alert_id=alert["id"])
            )
            for alert in alerts
        ],
    )
    texted = any(m.texted for m in shown)
    channels: tuple[Channel, ...] = ("email", "sms") if texted else ("email",)
    await notifications.notify_user(
        user_id=artist[0]["user_id"], kind="gig_alerts", payload=payload, channels=channels
    )
    return int(texted)
