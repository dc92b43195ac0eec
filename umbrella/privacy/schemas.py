"""Request and response models of settings, the data export and account deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from umbrella.integrations.sms import normalize_e164

# Generous for any way of writing a number ("+1 (415) 555-0100 ext. 12"); E.164 has 16.
MAX_PHONE_INPUT = 32


class SettingsOut(BaseModel):
    """Where notifications go and which ones the user wants."""

    email: str | None = Field(
        description="Where emails go: the address of the Apple or Google sign-in (read-only)."
    )
    phone: str | None = Field(description="The number texts go to, in E.164 (`+14155550100`).")
    notify_email: bool = Field(description="Send notifications by email.")
    notify_sms: bool = Field(description="Send notifications by text (needs a phone number).")


class SettingsUpdate(BaseModel):
    """Change any of the settings; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    notify_email: StrictBool | None = None
    notify_sms: StrictBool | None = None
    phone: str | None = Field(
        default=None,
        max_length=MAX_PHONE_INPUT,
        description="With its country code (`+1 415 555 0100`); null removes the number.",
    )

    @field_validator("notify_email", "notify_sms", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must be true or false")
        return value

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        # InvalidPhoneNumber is a ValueError: it becomes a 400 naming `phone`.
        return None if value is None else normalize_e164(value)


class DeleteAccountIn(BaseModel):
    """The explicit confirmation a deletion needs: it cannot be undone (D-102)."""

    model_config = ConfigDict(extra="forbid")

    confirm: Literal["DELETE"] = Field(description="Exactly `DELETE`, in capitals.")


class AccountDeletedOut(BaseModel):
    deleted: Literal[True]
    objects_cleanup: Literal["queued"] = Field(
        description="Stored files are removed by a background job, within minutes."
    )


Rows = list[dict[str, Any]]


class FollowsExport(BaseModel):
    followers: Rows = Field(description="Who follows your artist profile.")
    following: Rows = Field(description="The artists you follow.")


class ReviewsExport(BaseModel):
    received: Rows = Field(description="Reviews of your artist profile, without reviewers' emails.")
    written: Rows = Field(description="Reviews of artists you wrote.")


class ApplicationsExport(BaseModel):
    sent: Rows = Field(description="Your applications to gigs, as an artist.")
    received: Rows = Field(description="Applications to the gigs you posted, as a venue.")


class BookingTermsExport(BaseModel):
    as_artist: Rows = Field(description="The agreed terms of your bookings, as an artist.")
    as_venue: Rows = Field(description="The agreed terms of the artists you booked, as a venue.")


class VenueReviewsExport(BaseModel):
    received: Rows = Field(description="Artists' reviews of you as a venue.")
    written: Rows = Field(description="Your reviews of venues, as an artist.")


class ExportOut(BaseModel):
    """Everything stored about you: one key per table, each row with all its columns.

    Rows are JSON objects named like the columns; times are ISO 8601 in UTC and amounts are
    JSON numbers. Secrets (session and invitation token hashes) are never included. Files
    are listed with their storage keys, not download links. See docs/account-data.md.
    """

    exported_at: datetime
    users: Rows = Field(description="Your account (one row).")
    sessions: Rows = Field(description="Your signed-in devices, without their tokens.")
    artists: Rows = Field(description="Your artist profile, if you have one.")
    artist_followers: FollowsExport
    tracks: Rows
    review_invitations: Rows = Field(description="Invitations you sent, without their tokens.")
    reviews: ReviewsExport
    timeline_entries: Rows
    artist_unavailability: Rows = Field(description="The days you marked unavailable.")
    gigs: Rows = Field(description="Gigs you posted as a venue.")
    gig_applications: ApplicationsExport
    booking_terms: BookingTermsExport
    gig_favorites: Rows
    gig_alerts: Rows
    gig_alert_digests: Rows
    gig_alert_sends: Rows
    venue_reviews: VenueReviewsExport
    conversations: Rows
    messages: Rows = Field(description="Every message of your conversations, from both sides.")
    inbox_versions: Rows = Field(
        description="The change counter of your conversation list (what polling compares)."
    )
    venue_stats: Rows = Field(
        description="The numbers on your venue card (completed gigs, typical pay, rating)."
    )
    folders: Rows
    files: Rows = Field(description="Metadata of your files, with their storage keys.")
    storage_quotas: Rows
    pending_uploads: Rows
    contact_lists: Rows
    contact_list_members: Rows
    broadcast_messages: Rows
    broadcast_lists: Rows
    broadcast_deliveries: Rows
    fan_suppressions: Rows
    journal_entries: Rows
    goals: Rows
    daily_metrics: Rows
    profile_view_counts: Rows
    track_play_counts: Rows
    violet_usage: Rows
    notifications: Rows
    calendar_feeds: Rows = Field(
        description="Your calendar feed link: when it was made and last read (never its token)."
    )
