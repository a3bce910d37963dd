import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from app.domain.enums import Platform
from app.platforms.urls import HANDLE, YOUTUBE_CHANNEL_ID, YOUTUBE_HANDLE
from app.schemas.common import NOT_SENT, Input, Name, Output, Page, Patch

# YouTube handles may also hold '-'; TikTok's and Instagram's never do (checked per platform
# where the platform is known, below).
HANDLE_AS_SENT = r"^\s*@?[A-Za-z0-9_.-]{1,64}\s*$"


def _handle(value: object) -> object:
    return value.strip().removeprefix("@") if isinstance(value, str) else value


def _check_handle(value: str) -> str:
    if not YOUTUBE_HANDLE.match(value):
        raise ValueError("a handle is 1 to 64 letters, digits, '_', '.' (or '-' on YouTube)")
    return value


Handle = Annotated[
    str,
    BeforeValidator(_handle),
    AfterValidator(_check_handle),
    # The same rule as the validators (HANDLE), as the caller may send it: spaces around and
    # a leading @ are dropped.
    WithJsonSchema({"type": "string", "pattern": HANDLE_AS_SENT}),
    Field(examples=["scout2015"], description="With or without the leading @."),
]


class CreatorCreate(Input):
    platform: Platform
    handle: Handle
    platform_user_id: Name | None = Field(
        None,
        description="The account's id on the platform. Required for YouTube: the channel id "
        "(`UC` and 22 more characters), which is what a video's answer names its author by.",
    )

    @model_validator(mode="after")
    def _per_platform(self) -> "CreatorCreate":
        if self.platform is Platform.YOUTUBE:
            if self.platform_user_id is None or not YOUTUBE_CHANNEL_ID.match(self.platform_user_id):
                raise ValueError(
                    "a YouTube creator needs platform_user_id, their channel id (UC and 22 "
                    "letters, digits, '-' or '_')"
                )
        elif not HANDLE.match(self.handle):
            raise ValueError("a TikTok or Instagram handle is letters, digits, '_' or '.'")
        return self


class CreatorUpdate(Patch):
    handle: Handle = NOT_SENT
    platform_user_id: Name | None = None


class CreatorOut(Output):
    id: uuid.UUID
    platform: Platform
    handle: str
    platform_user_id: str | None
    created_at: datetime
    updated_at: datetime


class AccessCode(Output):
    creator_id: uuid.UUID
    access_code: str = Field(
        description="What the creator types in the portal or in Discord's /link: shown once, "
        "stored hashed.",
        examples=["7K3Q-M9XD-2HVB-WT4N"],
    )


class CreatorCreated(CreatorOut):
    access_code: str = Field(
        description="The creator's access code (portal, Discord /link): shown this once."
    )


class MemberCreate(Input):
    creator_id: uuid.UUID
    cpm_tier_id: uuid.UUID | None = Field(None, description="Default tier for the creator's posts.")


class MemberUpdate(Input):
    cpm_tier_id: uuid.UUID | None


class MemberOut(Output):
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    cpm_tier_id: uuid.UUID | None
    created_at: datetime
    creator: CreatorOut


class CreatorRenameOut(Output):
    old_handle: str
    new_handle: str
    renamed_at: datetime
    post_id: uuid.UUID | None = Field(
        description="The post whose fetch showed the new handle (none for a YouTube channel's "
        "daily handle check, or when the post was deleted)."
    )


class CreatorPage(Page[CreatorOut]):
    pass


class MemberPage(Page[MemberOut]):
    pass


class CreatorRenamePage(Page[CreatorRenameOut]):
    pass
