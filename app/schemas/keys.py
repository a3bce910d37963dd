import uuid
from datetime import datetime

from pydantic import Field

from app.domain.enums import Role
from app.schemas.common import NO_NUL, Input, Output, Page


class KeyCreate(Input):
    name: str = Field("", max_length=200, pattern=NO_NUL)
    role: Role
    campaign_ids: list[uuid.UUID] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Restricts the key to these campaigns (it sees no other, and nothing "
        "organization-wide); null: every campaign.",
    )


class KeyOut(Output):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None
    campaign_ids: list[uuid.UUID] | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. Shown this once; store it now.")


class Me(Output):
    organization_id: uuid.UUID
    organization_name: str
    key_id: uuid.UUID
    role: Role


class KeyPage(Page[KeyOut]):
    pass
