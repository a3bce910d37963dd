"""Strict, path-aware reading of provider JSON. Parsers read every field through `Json`, so any
shape surprise becomes one `Malformed` exception naming the field, which the parser turns into
`FetchError(upstream)`.

Rule for optional fields: absent or null means unknown; present but wrong is malformed.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

# Counts land in BIGINT columns; anything larger is garbage, not a viral video.
_MAX_COUNT = 2**63 - 1
# Longer text from a provider is garbage too, and must not bloat our rows.
_MAX_TEXT = 2000
# Publish times before either platform existed, or far in the future, are garbage too.
_MIN_TIMESTAMP = 1_000_000_000  # 2001-09-09
_MAX_TIMESTAMP = 32_503_680_000  # 3000-01-01


class Malformed(Exception):
    """The answer does not have the shape the parser relies on."""


@dataclass(frozen=True)
class Json:
    value: object
    path: str = "body"

    @classmethod
    def decode(cls, body: bytes) -> "Json":
        try:
            return cls(json.loads(body))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise Malformed(f"body is not JSON ({type(exc).__name__})") from None

    def _members(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise Malformed(f"{self.path} is not an object")
        return self.value

    def __getitem__(self, key: str) -> "Json":
        members = self._members()
        if key not in members:
            raise Malformed(f"{self.path}.{key} is missing")
        return Json(members[key], f"{self.path}.{key}")

    def get(self, key: str) -> "Json | None":
        """An optional member: None when absent or null."""
        value = self._members().get(key)
        return None if value is None else Json(value, f"{self.path}.{key}")

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def count(self) -> int:
        """A non-negative integer, as a JSON number or a decimal string ("12345")."""
        value = self.value
        if isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value) if len(value) <= 19 else _MAX_COUNT + 1
        elif isinstance(value, int) and not isinstance(value, bool):  # True is not a count
            number = value
        else:
            raise Malformed(f"{self.path} is not a count")
        if number > _MAX_COUNT:
            raise Malformed(f"{self.path} is out of range")
        if number < 0:
            raise Malformed(f"{self.path} is negative")
        return number

    def text(self) -> str:
        """Messages, handles and ids; ids sometimes come as numbers. NUL (which PostgreSQL
        text cannot hold) is dropped and the length bounded: provider text reaches our rows."""
        if isinstance(self.value, str):
            return self.value.replace("\x00", "")[:_MAX_TEXT]
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            return str(self.value)
        raise Malformed(f"{self.path} is not text")

    def timestamp(self) -> datetime:
        """Unix seconds as an aware UTC datetime."""
        seconds = self.count()
        if not _MIN_TIMESTAMP <= seconds <= _MAX_TIMESTAMP:
            raise Malformed(f"{self.path} is not a plausible unix time")
        return datetime.fromtimestamp(seconds, UTC)

    def optional_text(self, key: str) -> str | None:
        member = self.get(key)
        return (member.text() or None) if member is not None else None

    def optional_timestamp(self, key: str) -> datetime | None:
        member = self.get(key)
        return member.timestamp() if member is not None else None
