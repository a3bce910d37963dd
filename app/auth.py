"""API keys: random, shown once, stored as a SHA-256 digest. Keys carry 256 bits of entropy,
so a fast hash is the right tool here (a slow password hash protects guessable secrets)."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from app.domain.enums import Role

KEY_PREFIX = "vl_"
_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key of one organization, with one role."""

    key_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role

    def allows(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:10]
