"""HTTP handlers of onboarding, profiles, images, timeline, unavailability: one call each."""

from __future__ import annotations

from typing import ClassVar, TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409, r413

from umbrella import keys
from umbrella.accounts import views as accounts_views
from umbrella.artists import availability, images, onboarding, service, timeline
from umbrella.artists.schemas import (
    ConfirmUploadIn,
    DeletedOut,
    ImageOut,
    ImageUploadIn,
    OnboardingStatusOut,
    ProfileCompletionOut,
    ProfileOut,
    ProfileUpdateIn,
    PublicProfileOut,
    RoleIn,
    Step1In,
    Step2In,
    Step3In,
    Step4In,
    Step5In,
    TimelineEntryIn,
    TimelineEntryOut,
    TimelineEntryUpdateIn,
    UnavailabilityIn,
    UnavailabilityOut,
)
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.storage.uploads import UploadTicketOut
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.ratelimit import UPLOAD_URLS, visitor
from umbrella.web.views import ApiView


class _ArtistView(ApiView):
    @property
    def reader(self) -> service.ProfileReader:
        return service.ProfileReader.of(self.request.config_dict)


# -- onboarding --------------------------------------------------------------------------


class OnboardingStatusView(ApiView):
    async def get(self) -> r200[envelope_of(OnboardingStatusOut)] | r401[ErrorEnvelope]:
        """Whether onboarding is complete, the role, the steps done and the next step (D-006).

        Tags: onboarding
        """
        status = await onboarding.get_onboarding_status(user_id=self.caller.user_id)
        return ok(self.request, status)


class OnboardingRoleView(ApiView):
    async def post(
        self, body: RoleIn
    ) -> (
        r200[envelope_of(OnboardingStatusOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r409[ErrorEnvelope]
    ):
        """Choose a role: an artist goes on to step 1, a venue is done (welcome email).

        An account with an artist profile cannot become a venue (409, field `role`).

        Tags: onboarding
        """
        status = await onboarding.update_role(
            user_id=self.caller.user_id,
            role=body.role,
            venue_name=body.venue_name,
            sessions=self.request.config_dict[accounts_views.SESSION_STORE],
        )
        return ok(self.request, status)


class _StepView(ApiView):
    async def _submit(
        self, step: int, body: Step1In | Step2In | Step3In | Step4In | Step5In
    ) -> web.Response:
        status = await onboarding.update_onboarding_step(
            user_id=self.caller.user_id,
            step=step,
            answers=body.model_dump(),
            redis=self.request.config_dict[keys.REDIS],
        )
        return ok(self.request, status)


STEP_ERRORS: TypeAlias = r400[ErrorEnvelope] | r403[ErrorEnvelope] | r409[ErrorEnvelope]


class Step1View(_StepView):
    async def post(self, body: Step1In) -> r200[envelope_of(OnboardingStatusOut)] | STEP_ERRORS:
        """Step 1, identity: creates the artist profile; always accepted (a restart, D-006).

        Tags: onboarding
        """
        return await self._submit(1, body)


class Step2View(_StepView):
    async def post(self, body: Step2In) -> r200[envelope_of(OnboardingStatusOut)] | STEP_ERRORS:
        """Step 2, bio and story. Out of order: 409 (field `step`) and back to step 1 (D-006).

        Tags: onboarding
        """
        return await self._submit(2, body)


class Step3View(_StepView):
    async def post(self, body: Step3In) -> r200[envelope_of(OnboardingStatusOut)] | STEP_ERRORS:
        """Step 3, creative profile. Out of order: 409 (field `step`) and back to step 1 (D-006).

        Tags: onboarding
        """
        return await self._submit(3, body)


class Step4View(_StepView):
    async def post(self, body: Step4In) -> r200[envelope_of(OnboardingStatusOut)] | STEP_ERRORS:
        """Step 4, rates and availability. Out of order: 409 and back to step 1 (D-006).

        Tags: onboarding
        """
        return await self._submit(4, body)


class Step5View(_StepView):
    async def post(self, body: Step5In) -> r200[envelope_of(OnboardingStatusOut)] | STEP_ERRORS:
        """Step 5, quick questions: completes onboarding and sends the welcome email.

        Tags: onboarding
        """
        return await self._submit(5, body)


# -- profiles ----------------------------------------------------------------------------


class OwnProfileView(_ArtistView):
    async def get(
        self,
    ) -> (
        r200[envelope_of(ProfileOut)]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """The caller's own profile with every field, private ones included.

        Tags: profile
        """
        profile = await service.get_own_profile(caller=self.caller, reader=self.reader)
        return ok(self.request, profile)

    async def put(
        self, body: ProfileUpdateIn
    ) -> (
        r200[envelope_of(ProfileOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Change fields of the caller's own profile; left out is unchanged, null clears.

        Tags: profile
        """
        profile = await service.update_profile(
            caller=self.caller, changes=body.changes(), reader=self.reader
        )
        return ok(self.request, profile)


class PublicProfileView(_ArtistView):
    public = True

    async def get(
        self, artist_id: UUID, /
    ) -> r200[envelope_of(PublicProfileOut)] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """An artist's public profile: never email, phone, legal name, earnings or answers.

        Tags: profile
        """
        viewer = self.optional_caller
        profile = await service.get_public_profile(
            artist_id=artist_id,
            viewer_user_id=viewer.user_id if viewer is not None else None,
            visitor=visitor(self.request),
            reader=self.reader,
        )
        return ok(self.request, profile)


class CompletionView(_ArtistView):
    async def get(
        self,
    ) -> (
        r200[envelope_of(ProfileCompletionOut)]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """How complete the caller's profile is (documented weights) and what is missing.

        Tags: profile
        """
        completion = await service.get_profile_completion(
            caller=self.caller,
            reader=self.reader,
            count_tracks=self.request.config_dict[keys.COUNT_TRACKS],
        )
        return ok(self.request, completion)


IMAGE_ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope] | r413[ErrorEnvelope]
)


class _ImageUploadView(_ArtistView):
    async def _start(self, purpose: service.ImagePurpose, body: ImageUploadIn) -> web.Response:
        ticket = await images.create_image_upload(
            caller=self.caller,
            storage=self.request.config_dict[keys.STORAGE],
            metrics=self.request.config_dict[keys.METRICS],
            purpose=purpose,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
        )
        return ok(self.request, ticket, status=201)

    async def _confirm(self, purpose: service.ImagePurpose, body: ConfirmUploadIn) -> web.Response:
        image = await images.update_profile_image(
            caller=self.caller,
            purpose=purpose,
            upload_id=body.upload_id,
            reader=self.reader,
        )
        return ok(self.request, image)


class AvatarUploadView(_ImageUploadView):
    rate_limits: ClassVar[tuple[str, ...]] = (UPLOAD_URLS,)

    async def post(self, body: ImageUploadIn) -> r201[envelope_of(UploadTicketOut)] | IMAGE_ERRORS:
        """A presigned POST for a new avatar (JPG, PNG or HEIC, at most 10 MB).

        Tags: profile
        """
        return await self._start("avatar", body)


class AvatarConfirmView(_ImageUploadView):
    async def post(self, body: ConfirmUploadIn) -> r200[envelope_of(ImageOut)] | IMAGE_ERRORS:
        """Make the uploaded file the avatar once its bytes prove it is an image (else 400 `file`).

        Tags: profile
        """
        return await self._confirm("avatar", body)


class BannerUploadView(_ImageUploadView):
    rate_limits: ClassVar[tuple[str, ...]] = (UPLOAD_URLS,)

    async def post(self, body: ImageUploadIn) -> r201[envelope_of(UploadTicketOut)] | IMAGE_ERRORS:
        """A presigned POST for a new banner (JPG, PNG or HEIC, at most 10 MB).

        Tags: profile
        """
        return await self._start("banner", body)


class BannerConfirmView(_ImageUploadView):
    async def post(self, body: ConfirmUploadIn) -> r200[envelope_of(ImageOut)] | IMAGE_ERRORS:
        """Make the uploaded file the banner once its bytes prove it is an image (else 400 `file`).

        Tags: profile
        """
        return await self._confirm("banner", body)


# -- timeline ----------------------------------------------------------------------------


class TimelineView(ApiView):
    async def post(
        self, body: TimelineEntryIn
    ) -> (
        r201[envelope_of(TimelineEntryOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Add a dated entry (gig, release, milestone, other) to the caller's timeline.

        Tags: timeline
        """
        entry = await timeline.create_timeline_entry(caller=self.caller, fields=body.model_dump())
        return ok(self.request, entry, status=201)


class TimelineEntryView(ApiView):
    async def put(
        self, entry_id: UUID, /, body: TimelineEntryUpdateIn
    ) -> (
        r200[envelope_of(TimelineEntryOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Change an entry of the caller's own timeline (anyone else's: 404).

        Tags: timeline
        """
        entry = await timeline.update_timeline_entry(
            caller=self.caller, entry_id=entry_id, changes=body.changes()
        )
        return ok(self.request, entry)

    async def delete(
        self, entry_id: UUID, /
    ) -> r200[envelope_of(DeletedOut)] | r403[ErrorEnvelope] | r404[ErrorEnvelope]:
        """Remove an entry of the caller's own timeline (anyone else's: 404).

        Tags: timeline
        """
        deleted = await timeline.delete_timeline_entry(caller=self.caller, entry_id=entry_id)
        return ok(self.request, deleted)


class PublicTimelineView(ApiView):
    public = True

    async def get(
        self, artist_id: UUID, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(TimelineEntryOut))] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """An artist's timeline, newest first (by date, then id), a page at a time.

        Tags: timeline
        """
        page = await timeline.list_timeline(
            settings=self.settings, artist_id=artist_id, cursor=cursor, limit=limit
        )
        return ok(self.request, page)


# -- unavailable dates -------------------------------------------------------------------


class UnavailabilityView(ApiView):
    async def get(
        self, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> (
        r200[envelope_of(page_of(UnavailabilityOut))]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """The caller's unavailable dates from today on, soonest first, a page at a time.

        Tags: profile
        """
        page = await availability.list_unavailability(
            settings=self.settings, caller=self.caller, cursor=cursor, limit=limit
        )
        return ok(self.request, page)

    async def post(
        self, body: UnavailabilityIn
    ) -> (
        r201[envelope_of(UnavailabilityOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r409[ErrorEnvelope]
    ):
        """Mark a day or a range (both ends included) as unavailable: no gigs are booked then.

        At most two years ahead; overlapping a range already marked is 409 (field
        `start_date`), as is going over the limit of upcoming entries.

        Tags: profile
        """
        entry = await availability.create_unavailability(caller=self.caller, entry=body)
        return ok(self.request, entry, status=201)


class UnavailabilityEntryView(ApiView):
    async def delete(
        self, entry_id: UUID, /
    ) -> (
        r200[envelope_of(DeletedOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Remove one of the caller's unavailable dates (anyone else's: 404).

        Tags: profile
        """
        deleted = await availability.delete_unavailability(caller=self.caller, entry_id=entry_id)
        return ok(self.request, deleted)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/onboarding/status", OnboardingStatusView),
        web.view("/v1/onboarding/role", OnboardingRoleView),
        web.view("/v1/onboarding/artists/step1", Step1View),
        web.view("/v1/onboarding/artists/step2", Step2View),
        web.view("/v1/onboarding/artists/step3", Step3View),
        web.view("/v1/onboarding/artists/step4", Step4View),
        web.view("/v1/onboarding/artists/step5", Step5View),
        web.view("/v1/profile", OwnProfileView),
        web.view("/v1/profile/completion", CompletionView),
        web.view("/v1/profile/avatar", AvatarUploadView),
        web.view("/v1/profile/avatar/confirm", AvatarConfirmView),
        web.view("/v1/profile/banner", BannerUploadView),
        web.view("/v1/profile/banner/confirm", BannerConfirmView),
        web.view("/v1/profile/timeline", TimelineView),
        web.view("/v1/profile/timeline/{entry_id}", TimelineEntryView),
        web.view("/v1/profile/unavailability", UnavailabilityView),
        web.view("/v1/profile/unavailability/{entry_id}", UnavailabilityEntryView),
        # Dynamic last, though aiohttp prefers a plain path (/v1/profile/completion) anyway.
        web.view("/v1/profile/{artist_id}", PublicProfileView),
        web.view("/v1/profile/{artist_id}/timeline", PublicTimelineView),
    ]
