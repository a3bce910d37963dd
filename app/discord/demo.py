"""Try the Discord bot with no Discord: play Discord's part against a running ViewLedger
(`make run`), with a generated Ed25519 key pair and the sandbox's fake Discord API.

    KEY=vl_...  # printed by make run
    .venv/bin/python -m app.discord.demo connect --key $KEY  # new key pair, connect, register
    .venv/bin/python -m app.discord.demo ping
    .venv/bin/python -m app.discord.demo link CODE           # a creator's access code
    .venv/bin/python -m app.discord.demo submit URL [--campaign NAME_OR_ID]
    .venv/bin/python -m app.discord.demo my-posts

(the project's own Python, from the project's directory: a system `python` lacks its
packages).

Each command signs an interaction as Discord would and posts it to /discord/interactions;
`submit` then waits for the bot's follow-up edit, read back from the fake Discord. The key
pair and application id are kept in the git-ignored `.discord-demo.json`; the private key
is a demo key and signs nothing else.
"""

import argparse
import asyncio
import json
import secrets
import sys
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.discord.integrations import register_discord
from app.settings import PROJECT_ROOT, get_settings

STATE = PROJECT_ROOT / ".discord-demo.json"
USER_ID = "80351110224678912"  # the demo creator's Discord user id


def new_key_pair() -> tuple[str, str]:
    """(private key hex, public key hex)"""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw().hex(), private.public_key().public_bytes_raw().hex()


def sign(private_hex: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Discord sends with an interaction."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private_hex))
    return {
        "X-Signature-Ed25519": key.sign(stamp.encode() + body).hex(),
        "X-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def interaction(
    application_id: str,
    kind: int,
    name: str | None = None,
    options: list[dict[str, Any]] | None = None,
    user_id: str = USER_ID,
) -> dict[str, Any]:
    """An interaction in Discord's shape, from a server member."""
    payload: dict[str, Any] = {
        "id": str(secrets.randbits(62)),
        "application_id": application_id,
        "type": kind,
        "token": secrets.token_urlsafe(48),
        "version": 1,
        "guild_id": "1",
        "channel_id": "2",
        "member": {"user": {"id": user_id, "username": "demo"}},
    }
    if name is not None:
        payload["data"] = {"id": "3", "name": name, "type": 1, "options": options or []}
    return payload


def option(name: str, value: str, focused: bool = False) -> dict[str, Any]:
    return {"name": name, "type": 3, "value": value, **({"focused": True} if focused else {})}


def _state() -> dict[str, str]:
    if not STATE.exists():
        sys.exit("run `python -m app.discord.demo connect --key KEY` first")
    state: dict[str, str] = json.loads(STATE.read_text())
    return state


async def _connect(api: str, key: str) -> None:
    private, public = new_key_pair()
    application_id = str(1_000_000_000_000_000_000 + secrets.randbits(48))
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {key}"}) as c:
        me = (await c.get("/v1/me")).raise_for_status().json()
        body = {
            "application_id": application_id,
            "public_key": public,
            "bot_token": "demo-bot-token-" + secrets.token_urlsafe(16),
        }
        (await c.put("/v1/integrations/discord", json=body)).raise_for_status()
    org = uuid.UUID(me["organization_id"])
    STATE.write_text(json.dumps({"api": api, "application_id": application_id, "private": private}))
    STATE.chmod(0o600)
    names = await register_discord(get_settings(), org)
    print(f"connected application {application_id}; registered /{', /'.join(names)}")


async def _send(state: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    async with httpx.AsyncClient(base_url=state["api"]) as client:
        answer = await client.post(
            "/discord/interactions", content=body, headers=sign(state["private"], body)
        )
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


async def _follow_up(state: dict[str, str], token: str, wait: float = 60) -> str | None:
    sandbox = get_settings().sandbox_url
    deadline = time.monotonic() + wait
    async with httpx.AsyncClient(base_url=sandbox) as client:
        while time.monotonic() < deadline:
            got = (await client.get("/__sandbox/discord", params={"token": token})).json()
            if got["edits"]:
                return str(got["edits"][-1]["content"])
            await asyncio.sleep(0.5)
    return None


async def _run(args: argparse.Namespace) -> None:
    if args.command == "connect":
        await _connect(args.api, args.key)
        return
    state = _state()
    app_id = state["application_id"]
    if args.command == "ping":
        print(await _send(state, interaction(app_id, 1)))
    elif args.command == "link":
        answer = await _send(state, interaction(app_id, 2, "link", [option("code", args.code)]))
        print(answer["data"]["content"])
    elif args.command == "my-posts":
        print((await _send(state, interaction(app_id, 2, "my-posts")))["data"]["content"])
    else:
        options = [option("url", args.url)]
        if args.campaign:
            options.append(option("campaign", args.campaign))
        payload = interaction(app_id, 2, "submit-post", options)
        answer = await _send(state, payload)
        if answer["type"] != 5:
            print(answer["data"]["content"])
            return
        print("deferred (Discord shows 'thinking...'); waiting for the bot's edit...")
        print(await _follow_up(state, payload["token"]) or "no edit yet: is the worker running?")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.discord.demo", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    connect = commands.add_parser("connect")
    connect.add_argument("--key", required=True, help="an admin API key")
    connect.add_argument("--api", default="http://127.0.0.1:8000")
    commands.add_parser("ping")
    commands.add_parser("link").add_argument("code")
    submit = commands.add_parser("submit")
    submit.add_argument("url")
    submit.add_argument("--campaign")
    commands.add_parser("my-posts")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
