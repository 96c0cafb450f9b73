"""The HTTP application, assembled in one place from the route modules."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from edgenode.services import Services

from .errors import EXCEPTION_HANDLERS
from .middleware import MattermostHeaders
from .routes import (
    channels,
    client_start,
    commands,
    files,
    hooks,
    openapi,
    posts,
    preferences,
    reactions,
    search,
    status,
    system,
    teams,
    users,
    websocket,
)

__all__ = ["build_app", "ROUTE_MODULES"]

ROUTE_MODULES = [system, client_start, users, teams, channels, posts, reactions, files, preferences, search, hooks, commands,
                 websocket, openapi, status]


def build_app(services: Services) -> Starlette:
    routes: list[BaseRoute] = [route for module in ROUTE_MODULES for route in module.routes]
    app = Starlette(routes=routes, middleware=[Middleware(MattermostHeaders)],
                    exception_handlers=EXCEPTION_HANDLERS)
    app.state.services = services
    return app
