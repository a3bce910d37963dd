"""The dashboard at /app: server-rendered pages over the same services, queries and
authorization as the JSON API (see the guide, section 6). Not in the API document."""

import contextlib
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

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
    """The pages, tried first and only for paths under /app (see `Under`)."""
    first = len(app.router.routes)
    for module in PAGES:
        for route in module.router.routes:
            # Pages, not API operations: out of the API document, and not held to its
            # contract (a link with a tracking tag still opens the page).
            route.include_in_schema = False
        app.include_router(module.router)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="web-static")
    pages = app.router.routes[first:]
    del app.router.routes[first:]
    # The static files first: every page load asks for them.
    app.router.routes.insert(0, Under("/app", [pages[-1], *pages[:-1]]))
    session.install(app)


class Under(BaseRoute):
    """Routes tried only for paths at or under `prefix`. FastAPI (0.165) tries a request's
    path against every route in turn, with no short-cut for a prefix, and matches an
    included router's routes twice (to choose it and to run it): a page's path went
    through all of the API's routes first, ~0.3 ms of every page. Here the pages come first
    and an API request pays one prefix check to pass them."""

    def __init__(self, prefix: str, routes: list[BaseRoute]) -> None:
        self.prefix = prefix
        self.routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = _route_path(scope)
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return Match.NONE, {}
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, _CHOSEN: route}
            if match is Match.PARTIAL and partial is None:
                partial = (route, child)
        if partial is not None:  # the path is a page's, the method is not: 405
            return Match.PARTIAL, {**partial[1], _CHOSEN: partial[0]}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope.pop(_CHOSEN).handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            with contextlib.suppress(NoMatchFound):
                return route.url_path_for(name, **path_params)
        raise NoMatchFound(name, path_params)


# Where `Under.matches` leaves the route it chose, for its `handle`.
_CHOSEN = "viewledger.page_route"


def _route_path(scope: Scope) -> str:
    """The path the routes match, below the app's root path (as Starlette's routes read it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path
