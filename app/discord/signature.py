"""Discord signs every interaction with the application's Ed25519 key: the signature in
`X-Signature-Ed25519` is over `X-Signature-Timestamp` followed by the raw body. Verified on
the bytes as received (a re-serialized body would not match), and a timestamp outside the
tolerance is refused so a captured request cannot be replayed later."""

import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def load_public_key(hex_key: str) -> Ed25519PublicKey | None:
    """The key Discord shows as "Public Key" (64 hex digits), or None if it is not one.
    (Only its length can be checked here: cryptography loads any 32 bytes.)"""
    try:
        raw = bytes.fromhex(hex_key)
    except ValueError:
        return None
    if len(raw) != 32:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def verify(
    public_key_hex: str,
    signature_hex: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: float,
) -> bool:
    if not signature_hex or not timestamp:
        return False
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - signed_at) > tolerance_seconds:
        return False
    key = load_public_key(public_key_hex)
    if key is None:
        return False
    try:
        key.verify(binascii.unhexlify(signature_hex), timestamp.encode() + body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
