"""Operator commands.

python -m app.cli db upgrade                       create the database if needed, migrate
python -m app.cli db wait [--timeout SECONDS]      wait until the database is migrated to this
                                                   code's head or beyond (a worker's init container)
python -m app.cli orgs create NAME                 new organization; prints its admin key last
python -m app.cli keys create --org ID --role R    another key (admin, editor or viewer)
python -m app.cli users create --org ID --email E --role R [--name N]
                                                   invite a person (admin or member); prints
                                                   their single-use invitation link
python -m app.cli discord register --org ID        put the bot's commands on Discord
"""

import argparse
import asyncio
import re
import time
import uuid

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from app.db import create_engine, create_sessionmaker, session_scope
from app.discord.api import DiscordApiError
from app.discord.integrations import register_discord
from app.domain.enums import OrgRole, Role
from app.domain.errors import DomainError
from app.models import Organization
from app.repositories import api_keys
from app.schemas.users import EMAIL
from app.services import readiness, users
from app.settings import PROJECT_ROOT, Settings, get_settings


async def _maintenance_connection(settings: Settings) -> asyncpg.Connection:
    """A connection to the server's `postgres` database, to create or drop ours."""
    url = make_url(settings.database_url)
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database="postgres",
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(settings: Settings) -> bool:
    """Create the database named in DATABASE_URL if it does not exist. True if created."""
    name = make_url(settings.database_url).database
    assert name, "DATABASE_URL names no database"
    conn = await _maintenance_connection(settings)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f"CREATE DATABASE {_quoted(name)}")
        return True
    finally:
        await conn.close()


async def drop_database(settings: Settings) -> None:
    name = make_url(settings.database_url).database
    assert name, "DATABASE_URL names no database"
    conn = await _maintenance_connection(settings)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def _revision(settings: Settings) -> str | None:
    """The database's migration revision; None while it cannot be read (no database yet, no
    table yet, the server not up)."""
    url = make_url(settings.database_url)
    try:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=5,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        return await conn.fetchval("SELECT version_num FROM alembic_version")  # type: ignore[no-any-return]
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


def wait_for_head(settings: Settings, timeout: float, poll: float = 2.0) -> str | None:
    """Waits until the database is at this code's head revision (the migration Job of a
    release has run) or ahead of it (a later release's, after a rollback): the rule
    /health/ready applies (readiness.migration_gap). Returns None then, or, after `timeout`
    seconds, what it found."""
    head, known = readiness.migration_head(), readiness.migration_revisions()
    deadline = time.monotonic() + timeout
    while True:
        gap = readiness.migration_gap(asyncio.run(_revision(settings)), head, known)
        if gap is None or time.monotonic() >= deadline:
            return gap
        time.sleep(poll)


def upgrade(settings: Settings) -> None:
    asyncio.run(ensure_database(settings))
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


async def create_org(settings: Settings, name: str) -> tuple[uuid.UUID, str]:
    engine = create_engine(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            org, key = await api_keys.create_organization(session, name)
        return org.id, key
    finally:
        await engine.dispose()


async def create_key(settings: Settings, org_id: uuid.UUID, role: Role, name: str) -> str:
    engine = create_engine(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            if await session.get(Organization, org_id) is None:
                raise SystemExit(f"no organization {org_id}")
            _, key = await api_keys.create(session, org_id, role, name)
        return key
    finally:
        await engine.dispose()


async def create_user(
    settings: Settings, org_id: uuid.UUID, email: str, role: OrgRole, name: str
) -> users.Link:
    engine = create_engine(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            if await session.get(Organization, org_id) is None:
                raise SystemExit(f"no organization {org_id}")
            if not re.fullmatch(EMAIL, email):
                raise SystemExit(f"not an email address: {email}")
            _, link = await users.invite(session, settings, org_id, email, name, role)
        return link
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", required=True)
    db = groups.add_parser("db").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="create the database if needed and apply migrations")
    db_wait = db.add_parser("wait", help="wait until the database is at this code's head")
    db_wait.add_argument("--timeout", type=float, default=1800.0, help="seconds (1800)")
    orgs = groups.add_parser("orgs").add_subparsers(dest="action", required=True)
    org_create = orgs.add_parser("create", help="create an organization and its admin key")
    org_create.add_argument("name")
    keys = groups.add_parser("keys").add_subparsers(dest="action", required=True)
    key_create = keys.add_parser("create", help="create an API key")
    key_create.add_argument("--org", required=True, type=uuid.UUID)
    key_create.add_argument("--role", required=True, choices=[r.value for r in Role])
    key_create.add_argument("--name", default="")
    user_group = groups.add_parser("users").add_subparsers(dest="action", required=True)
    user_create = user_group.add_parser("create", help="invite a person; prints their link")
    user_create.add_argument("--org", required=True, type=uuid.UUID)
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", required=True, choices=[r.value for r in OrgRole])
    user_create.add_argument("--name", default="")
    discord = groups.add_parser("discord").add_subparsers(dest="action", required=True)
    register = discord.add_parser(
        "register", help="register the bot's commands with the organization's application"
    )
    register.add_argument("--org", required=True, type=uuid.UUID)
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.group == "db" and args.action == "wait":
        waiting = wait_for_head(settings, args.timeout)
        if waiting is not None:
            raise SystemExit(f"gave up after {args.timeout:.0f} s: {waiting}")
        print("database is at this code's migration or a later one")
    elif args.group == "db":
        upgrade(settings)
        print("database is at the latest migration")
    elif args.group == "discord":
        try:
            names = asyncio.run(register_discord(settings, args.org))
        except (DomainError, DiscordApiError) as exc:
            raise SystemExit(str(exc)) from None
        print(f"registered /{', /'.join(names)} at {settings.discord_api_url}")
    elif args.group == "users":
        try:
            link = asyncio.run(
                create_user(settings, args.org, args.email, OrgRole(args.role), args.name)
            )
        except DomainError as exc:
            raise SystemExit(str(exc)) from None
        print(f"{args.role} {args.email} invited; their invitation link (single-use, until ")
        print(f"{link.expires_at:%Y-%m-%d %H:%M} UTC) sets their password:")
        print(link.url)
    elif args.group == "orgs":
        org_id, key = asyncio.run(create_org(settings, args.name))
        print(f"organization {org_id} created; its admin API key (shown once):")
        print(key)
    else:
        key = asyncio.run(create_key(settings, args.org, Role(args.role), args.name))
        print(f"{args.role} API key for organization {args.org} (shown once):")
        print(key)


if __name__ == "__main__":
    main()
