"""Signed webhooks (Standard Webhooks 1.0): an outbox written in the caller's transaction,
fanned out to subscribed endpoints, delivered at least once by the worker.

- `events`: the event types and delivery states (no imports from the rest of the app).
- `outbox`: `emit` / `emit_many`, the one call the rest of the app makes.
- `signing`, `vault`, `ssrf`: signatures, secrets at rest, and which URLs may be called.
- `repository`: every query of the endpoints API; `delivery`: the worker's sweep.
- `retention`: the worker's hourly prune of events done with.
"""
