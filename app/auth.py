"""API keys: random, shown once, stored as a SHA-256 digest. Keys carry 256 bits of entropy,
so a fast hash is the right tool here (a slow password hash protects guessable secrets)."""

import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.domain.enums import Role
from app.domain.permissions import Action, Actor, CampaignRole, within

KEY_PREFIX = "vl_"
_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}
T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key of one organization, with one role; or a signed-in user
    (`user_id` set), who acts through their own key row (`key_id`)."""

    key_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None
    # A user session's CSRF token, which its writes must carry.
    csrf_token: str | None = field(default=None, repr=False)
    # A key restricted to some campaigns (None: all of them).
    campaign_ids: frozenset[uuid.UUID] | None = None
    # An org member's campaign roles (None: not a member); they reach only these campaigns.
    campaign_roles: Mapping[uuid.UUID, CampaignRole] | None = field(
        default=None, hash=False, compare=False
    )

    def actor(self) -> Actor:
        return Actor(self.role, self.campaign_ids, self.campaign_roles)

    def within(self, action: Action) -> frozenset[uuid.UUID] | None:
        """The campaigns this caller may do `action` on; None: all of the organization's."""
        return within(self.actor(), action)

    def allows(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:10]


class Recent(Generic[T]):
    """What each credential (an API key, a session's token) was found to grant in the last
    few seconds, so a busy client costs one query per credential per TTL rather than one per
    request. Keyed by the credential's digest: the secret itself is never kept. A credential
    revoked or changed keeps working in other processes for at most the TTL; in this one,
    the change clears what it affects. Pages keep other reads the same way, keyed by what
    they read (app.web.choices)."""

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[float, T]] = {}
        # Bumped by every clear: a load that began before one read what the clear was for,
        # and is not kept (a request reading a session as it was signed out elsewhere here).
        self._generation = 0

    async def get(
        self,
        secret: str,
        load: Callable[[], Awaitable[T]],
        keep: Callable[[T], bool] | None = None,
    ) -> T:
        """The credential's recent answer, else `load()`'s, kept unless `keep` says not."""
        digest = hash_key(secret)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        found = await load()
        if generation == self._generation and (keep is None or keep(found)):
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[digest] = (now + self._ttl, found)
        return found

    def forget(self, secret: str) -> None:
        self._entries.pop(hash_key(secret), None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()


# Unknown keys are kept too, so guessing costs no more queries than using.
PrincipalCache = Recent[Principal | None]
