"""The dashboard at /app: server-rendered pages over the same services, queries and
authorization as the JSON API (see the guide, section 6). Not in the API document."""

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from app.web import (
    analytics,
    campaigns,
    creators,
    inbox,
    payments,
    post_actions,
    post_page,
    posts_page,
    session,
    settings,
    settings_webhooks,
    sign_in,
    track,
)
from app.web.templating import STATIC

PAGES = (
    sign_in,
    inbox,
    post_actions,
    posts_page,
    post_page,
    track,
    analytics,
    payments,
    campaigns,
    creators,
    settings,
    settings_webhooks,
)


def install(app: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)
    for module in PAGES:
        for route in module.router.routes:
            # Pages, not API operations: out of the API document, and not held to its
            # contract (a link with a tracking tag still opens the page).
            route.include_in_schema = False
        router.include_router(module.router)
    app.include_router(router)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="web-static")
    session.install(app)
