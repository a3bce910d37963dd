"""The bot's command set as Discord registers it, and the interaction and response types
it uses (https://discord.com/developers/docs/interactions/receiving-and-responding)."""

from typing import Any

PING = 1
APPLICATION_COMMAND = 2
AUTOCOMPLETE = 4

PONG = 1
MESSAGE = 4  # CHANNEL_MESSAGE_WITH_SOURCE
DEFERRED_MESSAGE = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: "thinking...", edited later
AUTOCOMPLETE_RESULT = 8
EPHEMERAL = 64  # only the user who ran the command sees the answer

_STRING = 3

COMMANDS: list[dict[str, Any]] = [
    {
        "name": "link",
        "type": 1,
        "description": "Link your Discord account to your creator profile with your access code.",
        "options": [
            {
                "type": _STRING,
                "name": "code",
                "description": "The access code the brand gave you",
                "required": True,
                "max_length": 64,
            }
        ],
    },
    {
        "name": "submit-post",
        "type": 1,
        "description": "Submit one of your videos to a campaign.",
        "options": [
            {
                "type": _STRING,
                "name": "url",
                "description": "The TikTok, Instagram or YouTube video URL",
                "required": True,
                "max_length": 2048,
            },
            {
                "type": _STRING,
                "name": "campaign",
                "description": "The campaign (optional when you are in only one)",
                "required": False,
                "autocomplete": True,
            },
        ],
    },
    {
        "name": "my-posts",
        "type": 1,
        "description": "Your recent posts with their status, views and earnings.",
    },
]


def message(content: str) -> dict[str, Any]:
    return {
        "type": MESSAGE,
        "data": {"content": content[:2000], "flags": EPHEMERAL, "allowed_mentions": {"parse": []}},
    }


def deferred() -> dict[str, Any]:
    return {"type": DEFERRED_MESSAGE, "data": {"flags": EPHEMERAL}}


def choices(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": AUTOCOMPLETE_RESULT,
        "data": {"choices": [{"name": n[:100], "value": v[:100]} for n, v in pairs[:25]]},
    }
