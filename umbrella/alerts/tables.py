"""The tables of the alerts domain: saved filters, each artist's last digest, the gigs sent."""

from piccolo.columns import JSONB, UUID, Boolean, Date, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.artists.tables import Artist
from umbrella.gigs.tables import Gig


class GigAlert(Table, tablename="gig_alerts"):
    """A browse filter an artist saved: new open gigs matching it go out in the daily digest."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    name = Varchar(length=100)
    filters = JSONB(default="{}")
    # Urgent gigs (D-010) matching this alert also go by text.
    text_urgent = Boolean(default=False)
    # Off after the email's unsubscribe link (or by the artist): no digest looks at it.
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    gig_alerts_name_check = Check("char_length(btrim(name)) >= 1")
    gig_alerts_filters_check = Check("jsonb_typeof(filters) = 'object'")


class GigAlertDigest(Table, tablename="gig_alert_digests"):
    """An artist's last digest: its UTC day (one a day) and up to when it looked at new gigs."""

    artist_id = ForeignKey(
        references=Artist, on_delete=OnDelete.cascade, null=False, primary_key=True
    )
    last_day = Date()
    last_cutoff = Timestamptz()


class GigAlertSend(Table, tablename="gig_alert_sends"):
    """A gig a digest told an artist about: never the same gig twice to the same artist."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    gig_id = ForeignKey(references=Gig, on_delete=OnDelete.cascade, null=False)
    sent_at = Timestamptz()

    gig_alert_sends_artist_id_gig_id_key = Unique(["artist_id", "gig_id"])
