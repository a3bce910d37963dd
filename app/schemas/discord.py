from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from app.schemas.common import Input, Output


class DiscordConnect(Input):
    application_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")] = Field(
        description="The application's id (a snowflake), from the Developer Portal.",
        examples=["1187654321098765432"],
    )
    public_key: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] = Field(
        description="The application's Ed25519 public key, 64 hex digits: every interaction's "
        "signature is checked with it."
    )
    bot_token: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = Field(
        description="The bot's token, used to register the commands. Stored encrypted, never "
        "shown again.",
        json_schema_extra={"writeOnly": True},
    )


class DiscordIntegrationOut(Output):
    application_id: str
    public_key: str
    bot_token_set: bool = Field(True, description="The token itself is never shown.")
    interactions_path: str = Field(
        "/discord/interactions",
        description="Set the application's Interactions Endpoint URL to this path on this "
        "server's public address.",
    )
    created_at: datetime
    updated_at: datetime


class DiscordCommandsRegistered(Output):
    registered: list[str] = Field(
        description="The commands Discord now has for the application, by name.",
        examples=[["link", "submit-post", "my-posts"]],
    )
