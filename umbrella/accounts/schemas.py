"""Request and response models of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Role = Literal["artist", "venue", "admin"]
# What onboarding shows next: the choice of role, then the five artist steps.
NextStep = Literal["role", "step1", "step2", "step3", "step4", "step5"]
ProviderId = Literal["google", "apple"]


class UserOut(BaseModel):
    """The caller's own account."""

    id: UUID
    email: str | None
    display_name: str | None
    role: Role | None = Field(
        description="Null until the person has chosen a role (while `next_step` is `role`)."
    )
    onboarding_complete: bool
    onboarding_step: int
    created_at: datetime


class SessionOut(BaseModel):
    user: UserOut
    onboarding_complete: bool
    next_step: NextStep | None = Field(
        description="The onboarding step to show next, or null when onboarding is complete."
    )
    expires_at: datetime


class SignedIn(BaseModel):
    token: str = Field(
        description="Send as `Authorization: Bearer <token>` (also set as a cookie)."
    )
    session: SessionOut


class ProviderOut(BaseModel):
    """A sign-in provider configured on this server: one button of the sign-in page."""

    id: ProviderId
    name: str = Field(description="The provider's name for the button: `Google`, `Apple`.")
    login_url: str = Field(
        description="Absolute; open it as a page (a link or `window.location`), not with fetch."
    )


class ProvidersOut(BaseModel):
    providers: list[ProviderOut] = Field(
        description="Only the providers configured here, Google first; empty when none is."
    )


class RevokedOut(BaseModel):
    revoked: int = Field(description="How many sessions were revoked.")


class DevLoginIn(BaseModel):
    """Sign in as an existing user without a provider (development only)."""

    model_config = ConfigDict(extra="forbid")

    # Not EmailStr: it refuses reserved domains such as the demo users' `.test` addresses.
    email: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
        ]
        | None
    ) = None
    user_id: UUID | None = None
    create: bool = Field(
        default=False,
        description="With `email`: make a new user (onboarding ahead) if none has that email.",
    )

    @model_validator(mode="after")
    def _one_identifier(self) -> DevLoginIn:
        if (self.email is None) == (self.user_id is None):
            raise ValueError("give exactly one of email or user_id")
        if self.create and self.email is None:
            raise ValueError("create needs an email")
        return self
