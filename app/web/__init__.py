"""The dashboard at /app: server-rendered pages over the same services, queries and
authorization as the JSON API (see the guide, section 6). Not in the API document."""

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from app.web import (
    inbox,
    post_actions,
    post_page,
    session,
    settings,
    settings_webhooks,
    sign_in,
    track,
)
from app.web.templating import STATIC


def install(app: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)
    for module in (sign_in, inbox, post_actions, post_page, track, settings, settings_webhooks):
        router.include_router(module.router)
    app.include_router(router)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="web-static")
    session.install(app)
