"""Webhook secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under a key
derived from SECRET_KEY. A signing secret must be recoverable to sign with, so it is
encrypted rather than hashed; a database dump alone does not reveal it."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet

from app.settings import Settings


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    # Domain-separated so the same SECRET_KEY can key other things without reusing this key.
    digest = hashlib.sha256(b"viewledger/webhook-secrets/v1\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(settings: Settings, secret: str) -> str:
    return _fernet(settings.secret_key).encrypt(secret.encode()).decode()


def decrypt(settings: Settings, token: str) -> str:
    return _fernet(settings.secret_key).decrypt(token.encode()).decode()
