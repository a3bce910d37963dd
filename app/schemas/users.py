import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.domain.enums import OrgRole, UserStatus
from app.domain.passwords import MAX_LENGTH, MIN_LENGTH
from app.domain.permissions import CampaignRole
from app.domain.two_factor import Requirement
from app.schemas.common import NO_NUL, NOT_SENT, Input, Output, Page, Patch, strip

# Deliberately loose (the link sent to it is the real test): one @, a dot in the domain.
EMAIL = r"^[^@\s\x00]{1,64}@[^@\s\x00]+\.[^@\s\x00]+$"
Email = Annotated[
    str,
    Field(max_length=254, pattern=EMAIL, examples=["ana@example.com"]),
    AfterValidator(lambda value: value.lower()),
]
UserName = Annotated[str, Field(max_length=200, pattern=NO_NUL), AfterValidator(strip)]


class UserCreate(Input):
    email: Email
    name: UserName = ""
    role: OrgRole


class UserUpdate(Patch):
    name: UserName = NOT_SENT
    role: OrgRole = NOT_SENT


class UserOut(Output):
    id: uuid.UUID
    email: str
    name: str
    role: OrgRole
    status: UserStatus = Field(
        description="`invited` until the invitation is accepted; `removed` cannot sign in."
    )
    created_at: datetime
    last_sign_in_at: datetime | None


class UserPage(Page[UserOut]):
    pass


class LinkOut(Output):
    url: str = Field(
        description="A single-use link that sets the user's password. Shown this once."
    )
    expires_at: datetime


class UserCreated(UserOut):
    invitation: LinkOut


class PasswordSet(Input):
    token: str = Field(min_length=1, max_length=128, description="The link's `token`.")
    password: str = Field(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description="At least 12 characters, not one of the most common passwords.",
    )


class SignIn(Input):
    email: str = Field(min_length=1, max_length=254, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    code: str | None = Field(
        None,
        min_length=6,
        max_length=32,
        pattern=NO_NUL,
        description="With two-factor sign-in on: the authenticator's 6-digit code, or an "
        "unused recovery code.",
    )


class SessionOut(Output):
    user: UserOut
    organization_id: uuid.UUID
    csrf_token: str = Field(
        description="Send as `X-CSRF-Token` on every request signed in by the session cookie "
        "that is not a read (POST, PATCH, PUT, DELETE)."
    )
    two_factor_pending: bool = Field(
        False,
        description="The organization requires a second factor this user has not set up: "
        "until they do, the session reaches only /v1/session and its two-factor set-up.",
    )
    expires_at: datetime = Field(
        description="The session's absolute end (it ends sooner "
        "when unused for SESSION_IDLE_MINUTES)."
    )


class SignedOut(Output):
    sessions_ended: int


class CampaignRoleSet(Input):
    role: CampaignRole = Field(
        description="`campaign_admin`: the roster, the posts and the deal terms, and all a "
        "`campaign_editor` does: CPM tiers, tier assignment, decisions, marking paid."
    )


class CampaignRoleOut(Output):
    campaign_id: uuid.UUID
    user_id: uuid.UUID
    role: CampaignRole
    created_at: datetime


class CampaignRolePage(Page[CampaignRoleOut]):
    pass


class AuditEventOut(Output):
    id: uuid.UUID
    occurred_at: datetime
    action: str = Field(examples=["post.marked_paid"])
    resource_type: str = Field(examples=["post"])
    resource_id: str | None
    actor_key_id: uuid.UUID | None = Field(
        description="The key that acted; for a signed-in user, the user's own key row."
    )
    actor_user_id: uuid.UUID | None = Field(description="The user who acted, if a person did.")
    client_address: str
    details: dict[str, str]


class AuditEventPage(Page[AuditEventOut]):
    pass


class TwoFactorEnrolment(Output):
    secret: str = Field(description="The TOTP secret (base32), to type if the QR code won't scan.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code, an SVG document.")


class TwoFactorConfirm(Input):
    code: str = Field(min_length=6, max_length=8, pattern=r"^[0-9]+$")


class RecoveryCodes(Output):
    recovery_codes: list[str] = Field(
        description="Ten single-use codes that stand in for the authenticator. Shown once."
    )


class OrganizationOut(Output):
    id: uuid.UUID
    name: str
    require_two_factor: Requirement


class OrganizationUpdate(Patch):
    require_two_factor: Requirement = NOT_SENT


class PasswordResetRequest(Input):
    email: str = Field(min_length=1, max_length=254, pattern=NO_NUL)
