"""The HTTP edge: pure ASGI middleware and helpers that every request passes through."""
