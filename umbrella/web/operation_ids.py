"""The `operationId` of each operation of `/v1/openapi.json`: one camelCase name a generated
client calls it by (`listGigs`, `getGig`, `acceptGigApplication`).

Derived from the route and the method, so a new route gets a name without anyone thinking
of it; `OVERRIDES` names the operations the derivation reads badly for. The names are a
client's public API: change one only as deliberately as the route it names.
"""

from __future__ import annotations

import re

# The operations whose derived name reads badly (or would be another's), by method and path.
OVERRIDES: dict[tuple[str, str], str] = {
    ("get", "/v1/auth/providers"): "listSignInProviders",
    ("get", "/v1/auth/login/{provider}"): "startSignIn",
    ("get", "/v1/auth/callback/{provider}"): "finishSignIn",
    ("post", "/v1/auth/callback/{provider}"): "finishSignInWithFormPost",
    ("get", "/v1/auth/session"): "getSession",
    ("delete", "/v1/auth/session"): "deleteSession",
    ("post", "/v1/auth/logout"): "logOut",
    ("post", "/v1/auth/dev-login"): "devLogIn",
    ("post", "/v1/onboarding/role"): "chooseRole",
    ("post", "/v1/onboarding/artists/step1"): "submitArtistOnboardingStep1",
    ("post", "/v1/onboarding/artists/step2"): "submitArtistOnboardingStep2",
    ("post", "/v1/onboarding/artists/step3"): "submitArtistOnboardingStep3",
    ("post", "/v1/onboarding/artists/step4"): "submitArtistOnboardingStep4",
    ("post", "/v1/onboarding/artists/step5"): "submitArtistOnboardingStep5",
    ("get", "/v1/profile"): "getMyProfile",
    ("put", "/v1/profile"): "updateMyProfile",
    ("post", "/v1/profile/avatar"): "startAvatarUpload",
    ("post", "/v1/profile/avatar/confirm"): "confirmAvatarUpload",
    ("post", "/v1/profile/banner"): "startBannerUpload",
    ("post", "/v1/profile/banner/confirm"): "confirmBannerUpload",
    ("post", "/v1/profile/timeline"): "createTimelineEntry",
    ("put", "/v1/profile/timeline/{entry_id}"): "updateTimelineEntry",
    ("delete", "/v1/profile/timeline/{entry_id}"): "deleteTimelineEntry",
    ("get", "/v1/profile/{artist_id}"): "getArtistProfile",
    ("get", "/v1/profile/{artist_id}/timeline"): "getArtistTimeline",
    ("get", "/v1/profile/{artist_id}/portfolio"): "getArtistPortfolio",
    ("get", "/v1/profile/{artist_id}/reviews"): "listArtistReviews",
    ("post", "/v1/profile/tracks/upload"): "startTrackUpload",
    ("put", "/v1/profile/tracks/order"): "reorderTracks",
    ("post", "/v1/profile/tracks"): "createTrack",
    ("put", "/v1/profile/tracks/{track_id}"): "updateTrack",
    ("delete", "/v1/profile/tracks/{track_id}"): "deleteTrack",
    ("post", "/v1/profile/{artist_id}/tracks/{track_id}/play"): "recordTrackPlay",
    ("post", "/v1/profile/reviews/invite"): "inviteReview",
    ("post", "/v1/reviews/invitations/check"): "checkReviewInvitation",
    ("post", "/v1/reviews/invitations/review"): "reviewFromInvitation",
    ("post", "/v1/gigs/{gig_id}/reviews/artist/{artist_id}"): "reviewGigArtist",
    ("post", "/v1/gigs/{gig_id}/reviews/venue"): "reviewGigVenue",
    ("delete", "/v1/artists/{artist_id}/follow"): "unfollowArtist",
    ("get", "/v1/following"): "listFollowedArtists",
    ("post", "/v1/gigs/{gig_id}/apply"): "applyToGig",
    ("delete", "/v1/gigs/{gig_id}/favorite"): "unfavoriteGig",
    ("post", "/v1/gigs/{gig_id}/applications/{application_id}/view"): "markGigApplicationViewed",
    ("get", "/v1/applications"): "listMyApplications",
    ("get", "/v1/favorites"): "listFavoriteGigs",
    ("post", "/v1/conversations"): "startConversation",
    ("post", "/v1/conversations/{conversation_id}/messages"): "sendMessage",
    ("post", "/v1/conversations/{conversation_id}/read"): "markConversationRead",
    (
        "get",
        "/v1/conversations/{conversation_id}/messages/{message_id}/attachment",
    ): "getMessageAttachment",
    ("post", "/v1/messages/attachment"): "startMessageAttachmentUpload",
    ("get", "/v1/settings/export"): "exportMyData",
    ("delete", "/v1/settings/account"): "deleteAccount",
    ("get", "/v1/calendar"): "getCalendarFeed",
    ("post", "/v1/calendar/token"): "createCalendarFeedLink",
    ("delete", "/v1/calendar/token"): "deleteCalendarFeedLink",
    ("get", "/v1/calendar.ics"): "getCalendarIcs",
    ("get", "/v1/search"): "search",
    ("post", "/v1/files/upload"): "startFileUpload",
    ("get", "/v1/files/usage"): "getStorageUsage",
    ("post", "/v1/files"): "confirmFileUpload",
    ("put", "/v1/files/{file_id}/move"): "moveFile",
    ("post", "/v1/contacts/import"): "importContacts",
    ("delete", "/v1/contacts/lists/{list_id}/members/{member_id}"): "removeContactListMember",
    ("get", "/v1/fans/unsubscribe"): "showUnsubscribePage",
    ("post", "/v1/fans/unsubscribe"): "unsubscribeFan",
    ("get", "/v1/alerts/unsubscribe"): "showAlertUnsubscribePage",
    ("post", "/v1/alerts/unsubscribe"): "turnOffAlert",
    ("post", "/v1/webhooks/twilio/inbound"): "receiveTwilioMessage",
    ("post", "/v1/webhooks/resend"): "receiveResendEvent",
    ("post", "/v1/broadcast"): "sendBroadcast",
    ("post", "/v1/broadcast/preview"): "previewBroadcast",
    ("get", "/v1/broadcast/history"): "listBroadcasts",
    ("get", "/v1/analytics/earnings.csv"): "getEarningsCsv",
    ("get", "/v1/analytics/spotlight"): "getSpotlight",
    ("get", "/v1/journal"): "listJournalEntries",
    ("post", "/v1/journal"): "createJournalEntry",
    ("get", "/v1/journal/{entry_id}"): "getJournalEntry",
    ("put", "/v1/journal/{entry_id}"): "updateJournalEntry",
    ("delete", "/v1/journal/{entry_id}"): "deleteJournalEntry",
    ("post", "/v1/violet/prompt"): "askViolet",
}

# What each method does to the thing its path names, unless the path ends in an action.
_VERBS = {"get": "get", "post": "create", "put": "update", "patch": "update", "delete": "delete"}
# Words that stay as they are in the singular.
_UNCOUNTED = frozenset({"analytics", "settings", "status", "usage", "news"})
_PARAMETER = re.compile(r"^\{.*\}$")


def operation_id(method: str, path: str) -> str:
    """The name of the operation `method path` (an override, else the derived one)."""
    return OVERRIDES.get((method, path)) or derived_operation_id(method, path)


def derived_operation_id(method: str, path: str) -> str:
    """`GET /v1/gigs` → `listGigs`, `GET /v1/gigs/{gig_id}` → `getGig`, `POST /v1/gigs` →
    `createGig`, `POST /v1/gigs/{gig_id}/cancel` → `cancelGig` (a word after an id is an
    action), `GET /v1/gigs/{gig_id}/applications` → `listGigApplications`."""
    segments = [segment for segment in path.split("/") if segment and segment != "v1"]
    names = [segment for segment in segments if not _PARAMETER.match(segment)]
    words = [word for name in names for word in re.split(r"[-_.]", name) if word]
    ends_in_id = bool(segments) and _PARAMETER.match(segments[-1]) is not None
    action_after_id = (
        method == "post"
        and len(segments) >= 2
        and not ends_in_id
        and _PARAMETER.match(segments[-2]) is not None
        and _singular(words[-1]) == words[-1]
    )
    if action_after_id:
        verb, nouns = words[-1], [_singular(word) for word in words[:-1]]
    else:
        listing = method == "get" and not ends_in_id and _singular(words[-1]) != words[-1]
        verb = "list" if listing else _VERBS[method]
        nouns = [_singular(word) for word in words[:-1]]
        nouns.append(words[-1] if listing else _singular(words[-1]))
    return verb + "".join(noun[:1].upper() + noun[1:] for noun in nouns)


def _singular(word: str) -> str:
    if word in _UNCOUNTED or not word.endswith("s") or word.endswith("ss"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1]
