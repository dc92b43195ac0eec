"""Plain-text templates of every email and text Umbrella sends (no HTML: D-049 and deliverability).

Each kind has a payload schema, checked when the notification is queued, so a send in
the worker can never fail on a missing field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from umbrella.integrations.email import EmailMessage

NotificationKind = Literal[
    "welcome",
    "message",
    "review_invitation",
    "application_confirmation",
    "application_rejected",
    "application_reminder",
    "booking_confirmation",
    "booking_declined",
    "gig_cancelled",
    "booking_reminder",
    "gig_follow_up",
    "gig_alerts",
]
Channel = Literal["email", "sms"]

SIGNATURE = "— Umbrella"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WelcomePayload(_Payload):
    name: str = Field(min_length=1, max_length=200)
    audience: Literal["artist", "venue"] = "artist"


class MessagePayload(_Payload):
    sender_name: str = Field(min_length=1, max_length=200)
    conversation_url: str | None = None


class ReviewInvitationPayload(_Payload):
    artist_name: str = Field(min_length=1, max_length=200)
    review_url: str
    # Lets account deletion find the invitations an artist sent to other people.
    invitation_id: str | None = None
    expires_on: str  # a date the reader understands, e.g. "December 7, 2026"
    note: str | None = Field(default=None, max_length=500)


class BookingPayload(_Payload):
    audience: Literal["artist", "venue"]
    artist_name: str = Field(min_length=1, max_length=200)
    venue_name: str = Field(min_length=1, max_length=200)
    gig_title: str = Field(min_length=1, max_length=200)
    gig_date: str  # as the reader should see it, e.g. "Sat, December 12, 2026, 9:00 PM"
    city: str | None = None
    gig_url: str | None = None


class GigCancelledPayload(BookingPayload):
    was_booked: bool


class BookingTermsPayload(BookingPayload):
    """A booking's agreed terms (issue 25), as the reader should see them.

    Optional so a confirmation queued before the terms were recorded still renders.
    """

    times: str | None = None  # e.g. "9:00 PM to 11:30 PM"
    address: str | None = None  # e.g. "The Anchor, 12 Main St, Austin, TX 78701"
    pay: str | None = None  # e.g. "$500.00 flat", "$40.00 an hour", "negotiable"
    booking_url: str | None = None


class GigFollowUpPayload(BookingTermsPayload):
    """The morning after a gig: mark it played (D-080) and review each other."""

    completed: bool  # somebody marked it completed already
    review_url: str


class ApplicationReminderPayload(_Payload):
    venue_name: str = Field(min_length=1, max_length=200)
    gig_title: str = Field(min_length=1, max_length=200)
    gig_date: str
    waiting: int = Field(ge=1)
    applications_url: str | None = None


class AlertGigPayload(_Payload):
    """One gig of a gig-alerts digest, as the reader should see it."""

    title: str = Field(min_length=1, max_length=200)
    venue_name: str = Field(min_length=1, max_length=200)
    when: str  # e.g. "Sat, December 12, 2026, 9:00 PM"
    place: str  # e.g. "Austin, TX"
    pay: str | None = None  # e.g. "$250.00 flat", "$40.00 an hour", "negotiable"
    url: str | None = None
    urgent: bool = False
    texted: bool = False  # urgent, and an alert it matched asks for a text
    alerts: list[str] = Field(min_length=1)  # the names of the alerts it matched


class AlertLinkPayload(_Payload):
    name: str = Field(min_length=1, max_length=100)
    unsubscribe_url: str


class GigAlertsPayload(_Payload):
    """The daily digest of new gigs matching an artist's alerts."""

    artist_name: str = Field(min_length=1, max_length=200)
    gigs: list[AlertGigPayload] = Field(min_length=1, max_length=50)
    more: int = Field(default=0, ge=0)  # matched too, but beyond the digest's length
    browse_url: str | None = None
    alerts: list[AlertLinkPayload] = []  # every active alert, with its one-click off link


PAYLOADS: dict[str, type[_Payload]] = {
    "welcome": WelcomePayload,
    "message": MessagePayload,
    "review_invitation": ReviewInvitationPayload,
    "application_confirmation": BookingPayload,
    "application_rejected": BookingPayload,
    "application_reminder": ApplicationReminderPayload,
    "booking_confirmation": BookingTermsPayload,
    "booking_declined": BookingPayload,
    "gig_cancelled": GigCancelledPayload,
    "booking_reminder": BookingTermsPayload,
    "gig_follow_up": GigFollowUpPayload,
    "gig_alerts": GigAlertsPayload,
}

# Fields that hold a bearer secret (a single-use link): kept only until the message is sent.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {"review_invitation": ("review_url",)}
SCRUBBED = "(sent; removed)"

# Which channels each kind may use; everything else is a programming error.
CHANNELS: dict[str, frozenset[str]] = {
    "welcome": frozenset({"email"}),
    "message": frozenset({"email"}),
    "review_invitation": frozenset({"email"}),
    # D-079: both sides hear of an application and of a booking by email and by text.
    "application_confirmation": frozenset({"email", "sms"}),
    "application_rejected": frozenset({"email"}),
    "application_reminder": frozenset({"email"}),
    "booking_confirmation": frozenset({"email", "sms"}),
    "booking_declined": frozenset({"email"}),
    "gig_cancelled": frozenset({"email", "sms"}),
    # Issue 25: a reminder 24 hours before by email and text, a prompt after by email.
    "booking_reminder": frozenset({"email", "sms"}),
    "gig_follow_up": frozenset({"email"}),
    # The digest by email; urgent gigs also by text when the artist asked for it.
    "gig_alerts": frozenset({"email", "sms"}),
}


class InvalidPayload(ValueError):
    """A notification was queued with fields its template does not take."""


def validate_payload(kind: str, payload: BaseModel | dict[str, object]) -> dict[str, object]:
    """The payload as stored: checked against the kind's schema, JSON-ready."""
    schema = PAYLOADS.get(kind)
    if schema is None:
        raise InvalidPayload(f"unknown notification kind {kind!r}")
    raw = payload.model_dump() if isinstance(payload, BaseModel) else payload
    try:
        return schema.model_validate(raw).model_dump(mode="json")
    except ValidationError as error:
        raise InvalidPayload(f"{kind}: {error}") from None


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str


def _one_line(value: str) -> str:
    """Header values never carry line breaks a reader could use to forge headers."""
    return " ".join(value.split())


def _terms_block(data: BookingTermsPayload) -> str:
    """The agreed terms, one per line: when, where, what it pays."""
    when = data.gig_date + (f" ({data.times})" if data.times else "")
    lines = [f"When: {when}"]
    if data.address:
        lines.append(f"Where: {data.address}")
    if data.pay:
        lines.append(f"Pay: {data.pay}")
    return "\n".join(lines) + "\n\n"


def _terms_sms(data: BookingPayload) -> str:
    """Times, address, pay and the link, for a text (left out of a confirmation without them)."""
    if not isinstance(data, BookingTermsPayload):
        return ""
    parts = [part for part in (data.times, data.address, data.pay) if part]
    text = f" {'; '.join(parts)}." if parts else ""
    return text + (f" {data.booking_url}" if data.booking_url else "")


def _gig_alerts_email(data: GigAlertsPayload) -> tuple[str, str]:
    """The digest: each new gig once (with the alerts it matched), then the off links."""
    count = len(data.gigs) + data.more
    subject = f"{count} new gig{'s' if count > 1 else ''} for you on Umbrella"
    text = f"Hi {data.artist_name},\n\nNew gigs matching your alerts:\n\n"
    for gig in data.gigs:
        details = [gig.when, gig.place, *([gig.pay] if gig.pay else [])]
        if gig.urgent:
            details.append("urgent")
        text += f"{gig.title} at {gig.venue_name}\n  {' · '.join(details)}\n"
        text += f"  Matches: {', '.join(gig.alerts)}\n"
        text += f"  Apply: {gig.url}\n\n" if gig.url else "\n"
    if data.more:
        more = f"...and {data.more} more"
        text += f"{more}: {data.browse_url}\n\n" if data.browse_url else f"{more}.\n\n"
    if data.alerts:
        text += "Turn an alert off in one click:\n"
        text += "".join(f"  {link.name}: {link.unsubscribe_url}\n" for link in data.alerts)
        text += "\n"
    text += SIGNATURE
    return subject, text


def render_email(kind: str, payload: dict[str, object]) -> EmailContent:
    """Subject and body of one notification email."""
    data = PAYLOADS[kind].model_validate(payload)
    match data:
        case WelcomePayload(name=name, audience="venue"):
            subject = f"Welcome to Umbrella, {name}"
            text = (
                f"Hi {name},\n\n"
                "Your venue account is ready. Post a gig and artists can apply with a single "
                "click: their profile, rates and portfolio come with each application. "
                "Accept one and both of you get the booking confirmation.\n\n"
                f"{SIGNATURE}"
            )
        case WelcomePayload(name=name):
            subject = f"Welcome to Umbrella, {name}"
            text = (
                f"Hi {name},\n\n"
                "Your profile is complete. Venues can find you now, and you can apply to "
                "gigs with a single click: your profile, rates and portfolio go with it.\n\n"
                "Violet, your assistant, can draft messages to venues, help with lyrics "
                "and give career advice: 50 prompts a day.\n\n"
                f"{SIGNATURE}"
            )
        case MessagePayload(sender_name=sender, conversation_url=url):
            subject = f"New message from {sender}"
            text = f"{sender} sent you a message on Umbrella.\n\n"
            text += f"Read and reply: {url}\n\n" if url else "Open Umbrella to read and reply.\n\n"
            text += (
                "You get one email per conversation while messages are unread. You can turn "
                "these emails off in your settings.\n\n"
                f"{SIGNATURE}"
            )
        case ReviewInvitationPayload(
            artist_name=artist, review_url=url, expires_on=expires, note=note
        ):
            subject = f"{artist} asked you for a review"
            text = f"{artist} would value a short review of working together on Umbrella.\n\n"
            if note:
                text += f'They wrote: "{note}"\n\n'
            text += (
                f"Leave your review (a rating from 1 to 5 and a comment): {url}\n\n"
                f"The link works once and expires on {expires}. No account is needed.\n\n"
                f"{SIGNATURE}"
            )
        case BookingPayload() if kind == "application_confirmation":
            where = f" in {data.city}" if data.city else ""
            if data.audience == "artist":
                subject = f"Application sent: {data.gig_title}"
                text = (
                    f"Your application for {data.gig_title} at {data.venue_name} on "
                    f"{data.gig_date}{where} is in. Your profile, rates and portfolio went "
                    "with it. We'll tell you as soon as the venue answers.\n\n"
                )
            else:
                subject = f"New application: {data.artist_name} for {data.gig_title}"
                text = (
                    f"{data.artist_name} applied to play {data.gig_title} on "
                    f"{data.gig_date}{where}. Their profile, rates and portfolio are with "
                    "the application.\n\n"
                )
            if data.gig_url:
                text += f"Details: {data.gig_url}\n\n"
            text += SIGNATURE
        case BookingPayload() if kind == "application_rejected":
            subject = f"Update on {data.gig_title}"
            text = (
                f"{data.venue_name} decided not to book you for {data.gig_title} on "
                f"{data.gig_date}. It happens to everyone: new gigs are posted every day, "
                f"and your next application is one click away.\n\n{SIGNATURE}"
            )
        case ApplicationReminderPayload():
            many = "applications are" if data.waiting > 1 else "application is"
            subject = f"{data.waiting} {many.split()[0]} waiting: {data.gig_title}"
            text = (
                f"{data.waiting} {many} waiting for an answer for {data.gig_title} on "
                f"{data.gig_date}, for more than two days now. Artists plan around your "
                "answer: accept or decline when you can.\n\n"
            )
            if data.applications_url:
                text += f"Answer them: {data.applications_url}\n\n"
            text += SIGNATURE
        case GigCancelledPayload():
            subject = f"Cancelled: {data.gig_title} on {data.gig_date}"
            if data.was_booked:
                text = (
                    f"{data.venue_name} cancelled {data.gig_title} on {data.gig_date}, so "
                    "your booking is off. We're sorry: message the venue on Umbrella if you "
                    "have questions.\n\n"
                )
            else:
                text = (
                    f"{data.venue_name} cancelled {data.gig_title} on {data.gig_date}, so "
                    "your application is closed.\n\n"
                )
            text += SIGNATURE
        case BookingPayload() if kind == "booking_confirmation":
            subject = f"Booking confirmed: {data.gig_title} on {data.gig_date}"
            where = f" in {data.city}" if data.city else ""
            if data.audience == "artist":
                text = (
                    f"You're booked! {data.venue_name} accepted your application for "
                    f"{data.gig_title} on {data.gig_date}{where}.\n\n"
                )
            else:
                text = (
                    f"You booked {data.artist_name} for {data.gig_title} on "
                    f"{data.gig_date}{where}.\n\n"
                )
            if isinstance(data, BookingTermsPayload) and data.booking_url:
                text += _terms_block(data)
                text += (
                    "These are the agreed terms: they change only if you both agree.\n"
                    f"Your booking: {data.booking_url}\n\n"
                )
            elif data.gig_url:
                text += f"Details: {data.gig_url}\n\n"
            text += f"Message each other on Umbrella to settle the details.\n\n{SIGNATURE}"
        case GigFollowUpPayload():
            other = data.venue_name if data.audience == "artist" else data.artist_name
            subject = f"How did {data.gig_title} go?"
            text = f"{data.gig_title} on {data.gig_date} was yesterday: we hope it went well.\n\n"
            if not data.completed:
                text += (
                    "Mark it played so it counts on your record (and, for an artist, the pay "
                    f"goes into your earnings): {data.booking_url}\n\n"
                )
            text += f"Review {other}: {data.review_url}\n\n{SIGNATURE}"
        case BookingTermsPayload() if kind == "booking_reminder":
            subject = f"Tomorrow: {data.gig_title} on {data.gig_date}"
            if data.audience == "artist":
                text = f"A reminder: you play {data.gig_title} at {data.venue_name} tomorrow.\n\n"
            else:
                text = f"A reminder: {data.artist_name} plays {data.gig_title} tomorrow.\n\n"
            text += _terms_block(data)
            if data.booking_url:
                text += f"Your booking: {data.booking_url}\n\n"
            text += f"Something came up? Message each other on Umbrella now.\n\n{SIGNATURE}"
        case BookingPayload():
            subject = f"Update on {data.gig_title}"
            text = (
                f"{data.venue_name} has filled {data.gig_title} on {data.gig_date}, so your "
                "application was not accepted this time. New gigs are posted every day: "
                f"keep an eye on the marketplace.\n\n{SIGNATURE}"
            )
        case GigAlertsPayload():
            subject, text = _gig_alerts_email(data)
        case _:  # pragma: no cover - PAYLOADS and this match list the same kinds
            raise InvalidPayload(f"no email template for {kind!r}")
    return EmailContent(subject=_one_line(subject), text=text)


def render_sms(kind: str, payload: dict[str, object]) -> str:
    """The text of one notification SMS (short: one or two segments)."""
    data = PAYLOADS[kind].model_validate(payload)
    if kind == "booking_confirmation" and isinstance(data, BookingPayload):
        if data.audience == "artist":
            text = (
                f"Umbrella: you're booked! {data.venue_name} confirmed {data.gig_title} "
                f"on {data.gig_date}."
            )
        else:
            text = (
                f"Umbrella: {data.artist_name} is booked for {data.gig_title} on {data.gig_date}."
            )
        return text + _terms_sms(data)
    if kind == "booking_reminder" and isinstance(data, BookingTermsPayload):
        who = data.venue_name if data.audience == "artist" else data.artist_name
        return f"Umbrella reminder: {data.gig_title} with {who} tomorrow." + _terms_sms(data)
    if kind == "application_confirmation" and isinstance(data, BookingPayload):
        if data.audience == "artist":
            return (
                f"Umbrella: your application for {data.gig_title} at {data.venue_name} "
                f"on {data.gig_date} was sent."
            )
        return f"Umbrella: {data.artist_name} applied for {data.gig_title} on {data.gig_date}."
    if kind == "gig_cancelled" and isinstance(data, GigCancelledPayload):
        return f"Umbrella: {data.venue_name} cancelled {data.gig_title} on {data.gig_date}."
    if kind == "gig_alerts" and isinstance(data, GigAlertsPayload):
        texted = [gig for gig in data.gigs if gig.texted] or data.gigs
        first = texted[0]
        others = f" (+{len(texted) - 1} more, see your email)" if len(texted) > 1 else ""
        link = f" {first.url}" if first.url else ""
        return (
            f"Umbrella: urgent gig for you: {first.title} at {first.venue_name}, "
            f"{first.when}, {first.place}{others}.{link}"
        )
    raise InvalidPayload(f"no SMS template for {kind!r}")


def broadcast_email(
    *, to: str, artist_name: str, subject: str, body: str, unsubscribe_url: str
) -> EmailMessage:
    """A fan broadcast (D-049: text only) from the artist, with a one-click unsubscribe."""
    text = (
        f"{body.rstrip()}\n\n"
        "--\n"
        f"You get this email because you signed up for news from {artist_name}.\n"
        f"Unsubscribe: {unsubscribe_url}\n"
    )
    return EmailMessage(
        to=to,
        subject=_one_line(subject),
        text=text,
        from_name=_one_line(artist_name),
        unsubscribe_url=unsubscribe_url,
    )


def broadcast_sms(*, artist_name: str, body: str) -> str:
    """A fan text: the artist's name first, the opt-out words last (carrier rules)."""
    return f"{artist_name}: {body.strip()}\nReply STOP to opt out"
